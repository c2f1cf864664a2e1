// The tests' seeded data comes from the same generator as seeded sweeps.
export { prng } from '../../src/core/prng';
