/**
 * Node flags for Trellis's long-running servers: `trellis serve`, `trellis server`, serving containers and
 * deployed replicas.
 *
 * --no-memory-reducer: once a server has had no requests for a few seconds, V8's memory reducer shrinks its
 * heap, and under the next load V8 then keeps the old generation's limit just above its live size: a full
 * mark-compact every ~50 ms instead of every ~3 s (`--trace-gc`). A `trellis serve` of the bench's MLP that
 * had sat idle for 15 s answered 5,200–5,800 req/s instead of 8,700–9,700 (64 connections, one core), and
 * stayed that slow. A server keeps its heap between bursts instead. V8 creates the reducer with the heap and
 * NODE_OPTIONS refuses the flag, so whatever starts a server passes it to node (the `trellis` launcher in
 * esbuild.mjs does for every command).
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--no-memory-reducer'];
