/**
 * The `F` namespace: every differentiable function, the core ones of stages
 * 1–3 and the neural-network ones of stages 4–5.
 *
 * @module
 */
export * from "../core/functions.ts";
export * from "./functions.ts";
