/**
 * The Kubernetes API object shapes (JSON as the API server speaks it), from kubernetes-models' generated
 * types. Type-only: the package is ES modules and this project is CommonJS, so nothing of it is loaded at
 * run time here (the tests load its validators with import()).
 */
export type { IDeployment } from 'kubernetes-models/apps/v1/Deployment' with { 'resolution-mode': 'import' };
export type { IReplicaSet } from 'kubernetes-models/apps/v1/ReplicaSet' with { 'resolution-mode': 'import' };
export type { IPod } from 'kubernetes-models/v1/Pod' with { 'resolution-mode': 'import' };
export type { IEvent } from 'kubernetes-models/v1/Event' with { 'resolution-mode': 'import' };
export type { IService } from 'kubernetes-models/v1/Service' with { 'resolution-mode': 'import' };
export type { IContainer } from 'kubernetes-models/v1/Container' with { 'resolution-mode': 'import' };
export type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler' with { 'resolution-mode': 'import' };
export type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget' with { 'resolution-mode': 'import' };
export type { IHTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute' with { 'resolution-mode': 'import' };
