import assert from "node:assert/strict";
import { arange, type Device, F, slice, tensor, utils, type Variable } from "../mod.ts";
import { gpuTest } from "../shaders/test_util.ts";
import type { Index, IndexItem } from "./indexing.ts";

const S = slice;

/**
 * `[index, shape, values, grad]` for `x = np.arange(24).reshape(2, 3, 4)`:
 * NumPy's `x[index]` (shape and values), and the gradient of
 * `sum(x[index] * w)` with `w = arange(1, size + 1)`, which is
 * `np.add.at(zeros, index, w)`. Generated with NumPy 2.4 from hand-picked and
 * seeded random indices (integers, slices, `None`, `...`, integer arrays,
 * negatives and repeats).
 */
// deno-fmt-ignore
const NUMPY_CASES: [unknown[], number[], number[], number[]][] = [
  [[1, ":", [0, 2]], [2, 3], [12, 16, 20, 14, 18, 22], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 4, 0, 2, 0, 5, 0, 3, 0, 6, 0]],
  [[":", 1, [0, 2]], [2, 2], [4, 6, 16, 18], [0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0]],
  [[[0, 1], 1, ":"], [2, 4], [4, 5, 6, 7, 16, 17, 18, 19], [0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 5, 6, 7, 8, 0, 0, 0, 0]],
  [[1, [0, 2], ":"], [2, 4], [12, 13, 14, 15, 20, 21, 22, 23], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8]],
  [[":", [0, 2], 1], [2, 2], [1, 9, 13, 21], [0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0]],
  [[[1, 0], ":", -1], [2, 3], [15, 19, 23, 3, 7, 11], [0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]],
  [[1, null, [0, 2]], [2, 1, 4], [12, 13, 14, 15, 20, 21, 22, 23], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8]],
  [[null, 1, [0, 2]], [1, 2, 4], [12, 13, 14, 15, 20, 21, 22, 23], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8]],
  [[":", ":", [1, 0], "..."], [2, 3, 2], [1, 0, 5, 4, 9, 8, 13, 12, 17, 16, 21, 20], [2, 1, 0, 0, 4, 3, 0, 0, 6, 5, 0, 0, 8, 7, 0, 0, 10, 9, 0, 0, 12, 11, 0, 0]],
  [[[1], "...", [[0], [2]]], [2, 1, 3], [12, 16, 20, 14, 18, 22], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 4, 0, 2, 0, 5, 0, 3, 0, 6, 0]],
  [[":", [0, 1], "...", [3, -1]], [2, 2], [3, 15, 7, 19], [0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 0]],
  [[-1, [[0, 1], [2, 0]], S(null, null, -2)], [2, 2, 2], [15, 13, 19, 17, 23, 21, 15, 13], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 8, 0, 4, 0, 3, 0, 6, 0, 5]],
  [[[0, 1, 0], 2, [-1, -1, 0]], [3], [11, 23, 8], [0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]],
  [[S(1, null, null), [2, -3], [[0], [3]]], [1, 2, 2], [20, 12, 23, 15], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 4, 0, 0, 0, 0, 1, 0, 0, 3]],
  [[[-2, -1], S(null, null, -1), [-4, 3]], [2, 3], [8, 4, 0, 23, 19, 15], [3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 5, 0, 0, 0, 4]],
  [["..."], [2, 3, 4], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]],
  [[[1, 0, 1], "...", [2, -3, -2], [-4, 0, 3]], [3], [20, 0, 19], [2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 1, 0, 0, 0]],
  [[[0, 1, -2]], [3, 3, 4], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [26, 28, 30, 32, 34, 36, 38, 40, 42, 44, 46, 48, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]],
  [[[0, -2], [1, -2], [1, 3], null], [2, 1], [5, 7], [0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[1, null], [1, 3, 4], [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]],
  [[[-2], [0]], [1, 4], [0, 1, 2, 3], [1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[":", null, 0, null], [2, 1, 1, 4], [0, 1, 2, 3, 12, 13, 14, 15], [1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[":", null, S(null, null, -1)], [2, 1, 3, 4], [8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3, 20, 21, 22, 23, 16, 17, 18, 19, 12, 13, 14, 15], [9, 10, 11, 12, 5, 6, 7, 8, 1, 2, 3, 4, 21, 22, 23, 24, 17, 18, 19, 20, 13, 14, 15, 16]],
  [[null, -1, "..."], [1, 3, 4], [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]],
  [[[-2, -1, 1], -2, null], [3, 1, 4], [4, 5, 6, 7, 16, 17, 18, 19, 16, 17, 18, 19], [0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 14, 16, 18, 20, 0, 0, 0, 0]],
  [[0, [-2], -4], [1], [4], [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[S(null, -4, 2), -1, [3]], [0, 1], [], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[1, null, [1, 2, -1], "...", ":"], [3, 1, 4], [16, 17, 18, 19, 20, 21, 22, 23, 20, 21, 22, 23], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 14, 16, 18, 20]],
  [[-2, -1, -2, "..."], [], [10], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[null, [0], [-2]], [1, 1, 4], [4, 5, 6, 7], [0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [["...", [[-3, -2], [-3, -3]]], [2, 3, 2, 2], [1, 2, 1, 1, 5, 6, 5, 5, 9, 10, 9, 9, 13, 14, 13, 13, 17, 18, 17, 17, 21, 22, 21, 21], [0, 8, 2, 0, 0, 20, 6, 0, 0, 32, 10, 0, 0, 44, 14, 0, 0, 56, 18, 0, 0, 68, 22, 0]],
  [[[0], S(null, -5, -2)], [1, 2, 4], [8, 9, 10, 11, 0, 1, 2, 3], [5, 6, 7, 8, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[S(0, null, -1), null, [], "...", ":"], [1, 1, 0, 4], [], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[[-1, 0], -3, ":"], [2, 4], [12, 13, 14, 15, 0, 1, 2, 3], [5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[[]], [0, 3, 4], [], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[1, "...", null, S(null, null, 2), [3, -4, 2]], [3, 1, 2], [15, 23, 12, 20, 14, 22], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 5, 1, 0, 0, 0, 0, 4, 0, 6, 2]],
  [[[[-1, 0], [-2, -2]], null, 1, -1], [2, 2, 1], [19, 7, 7, 7], [0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]],
  [[":", 0, null, [0, 2, 0]], [3, 2, 1], [0, 12, 2, 14, 0, 12], [6, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [["...", null, S(null, null, 1), [-2], -1], [1, 2, 1], [7, 19], [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0]],
  [[0, ":"], [3, 4], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[[[1], [1]], "..."], [2, 1, 3, 4], [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36]],
  [[[[1, 0], [-2, 0]]], [2, 2, 3, 4], [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [75, 78, 81, 84, 87, 90, 93, 96, 99, 102, 105, 108, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]],
  [[[-1]], [1, 3, 4], [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]],
  [[S(0, null, 2), [0, 0], -3], [1, 2], [1, 1], [0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[[], -2, null], [0, 1, 4], [], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[":"], [2, 3, 4], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]],
  [[1, -2], [4], [16, 17, 18, 19], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0]],
  [[[0]], [1, 3, 4], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[0, null, [-2, 2], [3, 0]], [2, 1], [7, 8], [0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[[-2, -1], null, ":", null, ":"], [2, 1, 3, 1, 4], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]],
  [[[0, 0, 1]], [3, 3, 4], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23], [14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36]],
  [[S(4, null, 1), null, [0, 0, 1]], [0, 1, 3, 4], [], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[":", []], [2, 0, 4], [], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[null, [-1, 1], "...", [[0, 0], [0, 2]], ":"], [2, 2, 1, 4], [12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 20, 21, 22, 23], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 18, 21, 24, 0, 0, 0, 0, 13, 14, 15, 16]],
  [[":", [[-2], [-2]], null, [1]], [2, 1, 2, 1], [5, 17, 5, 17], [0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0]],
  [[[1], [-3], -4], [1], [12], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[S(null, null, -2), "...", null, [2, 2]], [1, 3, 1, 2], [14, 14, 18, 18, 22, 22], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 7, 0, 0, 0, 11, 0]],
  [[-1, [[-1], [-2]], S(-4, null, 2), null], [2, 1, 2, 1], [20, 22, 16, 18], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 4, 0, 1, 0, 2, 0]],
  [[S(null, -4, 3), [[-3], [2]], [[-2], [1]]], [0, 2, 1], [], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[0], [3, 4], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[[], [], 3], [0], [], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [["...", 0, [0], ":"], [1, 4], [0, 1, 2, 3], [1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[null, -2, null], [1, 1, 3, 4], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
  [[[-2, -1, 0], null], [3, 1, 3, 4], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [26, 28, 30, 32, 34, 36, 38, 40, 42, 44, 46, 48, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]],
];

type Form = "list" | "Variable" | "NDArray";

/** Rewrites the nested-list items of `index` as int32 tensors on `device` (or leaves them as lists). */
function withForm(index: unknown[], form: Form, device: Device): Index {
  if (form === "list") return index as Index;
  return index.map((it) => {
    if (!Array.isArray(it)) return it;
    const t = tensor(Int32Array.from(it.flat(Infinity) as number[]), {
      shape: listShape(it),
      device,
    });
    return form === "NDArray" ? t.array : t;
  }) as IndexItem[];
}

function listShape(list: unknown): number[] {
  const shape: number[] = [];
  for (let d = list; Array.isArray(d); d = d[0]) shape.push(d.length);
  return shape;
}

async function checkNumpyCases(device: Device): Promise<void> {
  const dtype = device === "gpu" ? "float32" : "float64";
  for (const [index, shape, values, grad] of NUMPY_CASES) {
    for (const form of ["list", "Variable", "NDArray"] as const) {
      const what = `x[${JSON.stringify(index)}] (${form} on ${device})`;
      const x = tensor(await arange(24).data(), { shape: [2, 3, 4], dtype, device });
      const y = x.getItem(withForm(index, form, device));
      assert.deepEqual(y.shape, shape, `${what} shape`);
      assert.deepEqual([...await y.data()], values, `${what} values`);
      const w = tensor(Float64Array.from(values, (_, i) => i + 1), { shape, dtype, device });
      F.sum(F.mul(y, w)).backward();
      assert.deepEqual([...await x.grad!.data()], grad, `${what} gradient`);
    }
  }
}

Deno.test("getItem() matches NumPy values, shapes and scatter-add gradients", async () => {
  await checkNumpyCases("cpu");
});

gpuTest("getItem() on the GPU matches NumPy values, shapes and gradients", async () => {
  await checkNumpyCases("gpu");
});

Deno.test("getItem() places an integer beside an index array as NumPy does", () => {
  const x = arange(30).reshape(2, 5, 3);
  // separated by a slice: the broadcast axes go first
  assert.deepEqual(x.getItem([1, ":", [0, 2]]).shape, [2, 5]);
  assert.deepEqual(x.getItem([[0, 1], ":", 2]).shape, [2, 5]);
  assert.deepEqual(x.getItem([1, null, [0, 2]]).shape, [2, 1, 3]);
  // adjacent: they stay in place
  assert.deepEqual(x.getItem([":", 1, [0, 2]]).shape, [2, 2]);
  assert.deepEqual(x.getItem([null, 1, [0, 2]]).shape, [1, 2, 3]);
  // an ellipsis separates them even when it stands for no axes
  const z = arange(120).reshape(2, 3, 4, 5);
  assert.deepEqual(z.getItem([":", ":", [0, 1], "...", [0, 1]]).shape, [2, 2, 3]);
  assert.deepEqual(z.getItem([":", ":", [0, 1], [0, 1]]).shape, [2, 3, 2]);
  // without an index array, integers stay basic
  assert.deepEqual(x.getItem([1, ":", 2]).shape, [5]);
  // a 0-d index array counts as advanced
  const zero = tensor(new Int32Array([1]), { shape: [] });
  assert.deepEqual(z.getItem([zero, ":", [0, 1]]).shape, [2, 3, 5]);
});

Deno.test("getItem() with an integer and index arrays passes gradient checks", async () => {
  const x = tensor(Float64Array.from({ length: 24 }, (_, i) => Math.sin(i + 1)), {
    shape: [2, 3, 4],
    dtype: "float64",
  });
  const indices: Index[] = [
    [1, ":", [0, 2, 0]],
    [":", -1, [[3, 0], [1, 3]]],
    [[1, 0], ":", -1],
    [[0, 1, 1], "...", [2, 2, -4]],
  ];
  for (const index of indices) {
    const r = await utils.gradientCheck((v: Variable) => F.getItem(v, index), [x], { order: 2 });
    assert.ok(r.ok, `${JSON.stringify(index)}: ${r.failures.join("\n")}`);
  }
});

/** Asserts that `fn` throws a RangeError with exactly `message`. */
function throwsRange(fn: () => unknown, message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RangeError, `expected a RangeError, got ${e}`);
    assert.equal(e.message, message);
    return true;
  });
}

function checkOutOfBounds(device: Device): void {
  const x = tensor([[0, 1, 2], [3, 4, 5]], { device });
  const cases: [Index, string][] = [
    [[[0], [3]], "index 3 is out of bounds for axis 1 with size 3"],
    [[[1], [-4]], "index -4 is out of bounds for axis 1 with size 3"],
    [[[0, 1], [2, -6]], "index -6 is out of bounds for axis 1 with size 3"],
    [[[2]], "index 2 is out of bounds for axis 0 with size 2"],
    [[[-3], 0], "index -3 is out of bounds for axis 0 with size 2"],
    [
      [null, ":", [[0], [7]]],
      "index 7 is out of bounds for axis 1 with size 3",
    ],
    [["...", [3]], "index 3 is out of bounds for axis 1 with size 3"],
    [[0, 3], "index 3 is out of bounds for axis 1 with size 3"],
    [[null, -3], "index -3 is out of bounds for axis 0 with size 2"],
    [[[0], -4], "index -4 is out of bounds for axis 1 with size 3"],
  ];
  for (const [index, message] of cases) throwsRange(() => x.getItem(index), `getItem: ${message}`);
  // typed arrays and CPU int tensors are checked as they are parsed
  throwsRange(
    () => x.getItem([":", new Int32Array([0, -4])]),
    "getItem: index -4 is out of bounds for axis 1 with size 3",
  );
  if (device === "cpu") {
    const t = tensor(new Int32Array([1, 3]));
    for (const it of [t, t.array]) {
      throwsRange(
        () => x.getItem([0, it]),
        "getItem: index 3 is out of bounds for axis 1 with size 3",
      );
    }
  }
  throwsRange(
    () => tensor(new Float32Array(0), { shape: [0, 2], device }).getItem([[0]]),
    "getItem: index 0 is out of bounds for axis 0 with size 0",
  );
}

Deno.test("getItem() throws a RangeError naming an out-of-bounds index, its axis and size", () => {
  checkOutOfBounds("cpu");
});

gpuTest("getItem() on the GPU throws for out-of-bounds list indices", () => {
  checkOutOfBounds("gpu");
});

gpuTest("getItem() with a GPU index array reports an out-of-bounds entry at readback", async () => {
  const x = tensor([[0, 1, 2], [3, 4, 5]], { device: "gpu" });
  const idx = (a: number[]) => tensor(Int32Array.from(a), { device: "gpu" });
  // Checking the entries would need a readback: the gather kernel that wraps
  // them makes a bad one 0 and records it, and the next readback throws.
  for (const [bad, value] of [[[0, 3], 3], [[-4, 0], -4]] as const) {
    const y = x.getItem([[1, 0], idx([...bad])]);
    await assert.rejects(() => y.data(), (e: unknown) => {
      assert.ok(e instanceof RangeError);
      assert.match(
        e.message,
        new RegExp(`^getItem: index ${value} is out of range for axis 1 of size 3`),
      );
      return true;
    });
  }
  // the error is reported once; valid negative entries wrap
  assert.deepEqual(await x.getItem([[1, 0], idx([-3, 2])]).toArray(), [3, 2]);
  // an empty index array is fine even on an empty axis
  const e = tensor(new Float32Array(0), { shape: [0, 2], device: "gpu" });
  assert.deepEqual(e.getItem([idx([])]).shape, [0, 2]);
  throwsRange(
    () => e.getItem([idx([0])]),
    "getItem: index array of shape [1] is out of bounds for axis 0 with size 0",
  );
});

Deno.test("getItem() rejects non-integer and ragged indices with a TypeError", () => {
  const x = arange(6).reshape(2, 3);
  assert.throws(() => x.getItem([0, 1.5]), {
    name: "TypeError",
    message: "getItem: index 1.5 on axis 1 is not an integer",
  });
  assert.throws(() => x.getItem([[0, 1.5]]), {
    name: "TypeError",
    message: "getItem: index arrays must hold integers, got 1.5",
  });
  for (const ragged of [[[0], [1, 0]], [0, [1]], [[0], 1], [[], [0]]]) {
    assert.throws(() => x.getItem([ragged]), {
      name: "TypeError",
      message: /getItem: index lists must not be ragged/,
    });
  }
  assert.throws(() => x.getItem([tensor([0.0, 1.0])]), {
    name: "TypeError",
    message: "getItem: index arrays must be int32, got float32",
  });
});

Deno.test("getItem() clamps out-of-range slice bounds as NumPy does", async () => {
  const x = arange(5);
  assert.deepEqual(await x.getItem(S(-100, 100)).toArray(), [0, 1, 2, 3, 4]);
  assert.deepEqual(await x.getItem(S(100, -100, -1)).toArray(), [4, 3, 2, 1, 0]);
  assert.deepEqual(await x.getItem(S(7, 9)).toArray(), []);
  assert.deepEqual(await x.getItem(S(-9, -7)).toArray(), []);
});
