// The ftensor dialect: the tensor level, below graph and above upstream linalg.
//
// A fused kernel is not an op of this dialect: it is an outlined `func.func` marked with the
// unit attribute `ftensor.kernel` and called with a plain `func.call` (an IRDL op can be
// neither a terminator nor a CallOpInterface, so a region-holding kernel op would not
// bufferize; see docs/dialects/ftensor.md). The ops here are the tensor-level operations
// that have no upstream counterpart.
irdl.dialect @ftensor {
  // Affine quantization: y = saturate(round(x / scale) + zero_point).
  // Per tensor when `scale` is 0-d, per axis (`axis`) when it is 1-d.
  irdl.operation @quantize {
    %x = irdl.base "!builtin.tensor"
    %scale = irdl.base "!builtin.tensor"
    %zero_point = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_axis = irdl.base "#builtin.integer"
    irdl.operands(x: %x, scale: %scale, zero_point: %zero_point)
    irdl.results(y: %r_y)
    irdl.attributes {"axis" = %attr_axis}
  }
  // Inverse of quantize: y = (x - zero_point) * scale.
  irdl.operation @dequantize {
    %x = irdl.base "!builtin.tensor"
    %scale = irdl.base "!builtin.tensor"
    %zero_point = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_axis = irdl.base "#builtin.integer"
    irdl.operands(x: %x, scale: %scale, zero_point: %zero_point)
    irdl.results(y: %r_y)
    irdl.attributes {"axis" = %attr_axis}
  }
  // A 2-D convolution whose input is quantized on the way in and whose weights are
  // quantized: conv(dequantize(quantize(x, x_scale, x_zero_point)),
  // dequantize(w, w_scale, 0, axis 0), b). `w` is i8 (symmetric, one scale per output
  // channel); `x_scale` and `x_zero_point` (u8 or i8) are per tensor. A backend computes
  // the product in integers with 32-bit accumulation and scales once. An `x` of the zero
  // point's integer type is already quantized (its codes, handed over by an INT8 kernel
  // that ends in `quantize`): it is dequantized as it is.
  irdl.operation @quantized_conv {
    %x = irdl.base "!builtin.tensor"
    %w = irdl.base "!builtin.tensor"
    %w_scale = irdl.base "!builtin.tensor"
    %x_scale = irdl.base "!builtin.tensor"
    %x_zero_point = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_dilations = irdl.base "#builtin.dense_array"
    %attr_group = irdl.base "#builtin.integer"
    %attr_kernel_shape = irdl.base "#builtin.dense_array"
    %attr_pads = irdl.base "#builtin.dense_array"
    %attr_strides = irdl.base "#builtin.dense_array"
    irdl.operands(x: %x, w: %w, w_scale: %w_scale, x_scale: %x_scale, x_zero_point: %x_zero_point, b: optional %b)
    irdl.results(y: %r_y)
    irdl.attributes {"dilations" = %attr_dilations, "group" = %attr_group, "kernel_shape" = %attr_kernel_shape, "pads" = %attr_pads, "strides" = %attr_strides}
  }
  // The same for a matrix product: mat_mul(dequantize(quantize(a, a_scale, a_zero_point)),
  // dequantize(b, b_scale, 0, axis -1)), `b` an i8 matrix with one scale per column; `a`
  // may be codes too.
  irdl.operation @quantized_mat_mul {
    %a = irdl.base "!builtin.tensor"
    %b = irdl.base "!builtin.tensor"
    %b_scale = irdl.base "!builtin.tensor"
    %a_scale = irdl.base "!builtin.tensor"
    %a_zero_point = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    irdl.operands(a: %a, b: %b, b_scale: %b_scale, a_scale: %a_scale, a_zero_point: %a_zero_point)
    irdl.results(y: %r_y)
  }
  // A physical layout change between two named layouts (e.g. "NCHW" -> "NHWC").
  // The layouts are strings of distinct dimension letters; the result shape is the
  // operand shape permuted accordingly.
  irdl.operation @relayout {
    %x = irdl.base "!builtin.tensor"
    %r_y = irdl.base "!builtin.tensor"
    %attr_src_layout = irdl.base "#builtin.string"
    %attr_dst_layout = irdl.base "#builtin.string"
    irdl.operands(x: %x)
    irdl.results(y: %r_y)
    irdl.attributes {"src_layout" = %attr_src_layout, "dst_layout" = %attr_dst_layout}
  }
}
