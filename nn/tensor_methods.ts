/**
 * Connects the Tensor methods (`x.add(y)`, `x.sum()`, `loss.backward()`, ...) to the ops and to
 * autograd when this module loads. nn/tensor.ts cannot import the ops, which import it; the
 * modules users import for tensors (nn/creation.ts, mod.ts) import this one.
 *
 * @module
 */

import { backward } from "./autograd.ts";
import * as ops from "./ops/mod.ts";
import { connectTensorOps } from "./tensor.ts";

connectTensorOps({ ...ops, backward });
