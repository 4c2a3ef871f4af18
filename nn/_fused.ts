/**
 * Internal switch: whether nn functions use a backend's optional fused
 * kernels (softmax, logSoftmax). Tests turn it off to compare the fused
 * kernels with their compositions.
 *
 * @module
 */

/** Whether forward passes may use a backend's fused kernels. */
export const fusedKernels: { enabled: boolean } = { enabled: true };
