#pragma once
// The one header for users of kiln:  #include "kiln.h"

// tensor: Tensor, dtypes, devices, random numbers, the backend interface
#include "tensor/backend.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

// autograd: the engine, grad mode, gradcheck, and the differentiable ops
#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "autograd/node.h"
#include "autograd/ops/attention.h"
#include "autograd/ops/conv.h"
#include "autograd/ops/dropout.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/embedding.h"
#include "autograd/ops/index.h"
#include "autograd/ops/interpolate.h"
#include "autograd/ops/loss.h"
#include "autograd/ops/matmul.h"
#include "autograd/ops/norm.h"
#include "autograd/ops/pool.h"
#include "autograd/ops/reduce.h"

