/*
 * aclnnop/aclnn_layer_norm.h -- declaration-only stand-in for the CANN operator header of the same name.
 *
 * Transcribed from the "函数原型" (function prototype) section of the public operator doc:
 *   github.com/hicann/ops-nn  norm/layer_norm_v4/docs/aclnnLayerNorm&aclnnLayerNormWithImplMode.md
 *   (snapshot e5c3fa9327ea95ba26d06227e746923580d10921)
 * and checked against the public op_api header github.com/hicann/ops-nn norm/layer_norm_v4/op_host/op_api/aclnn_layer_norm.h.
 *
 * Declarations only: nothing here is implemented or linkable. It exists so generated host code
 * can be syntax-checked without the CANN toolkit; real Ascend builds use the toolkit headers.
 */
#ifndef ASCEND_STUB_ACLNNOP_ACLNN_LAYER_NORM_H
#define ASCEND_STUB_ACLNNOP_ACLNN_LAYER_NORM_H

#include <stdint.h>
#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

aclnnStatus aclnnLayerNormGetWorkspaceSize(const aclTensor *input,
                                           const aclIntArray *normalizedShape,
                                           const aclTensor *weightOptional,
                                           const aclTensor *biasOptional,
                                           double eps,
                                           aclTensor *out,
                                           aclTensor *meanOutOptional,
                                           aclTensor *rstdOutOptional,
                                           uint64_t *workspaceSize,
                                           aclOpExecutor **executor);

aclnnStatus aclnnLayerNorm(void *workspace,
                           uint64_t workspaceSize,
                           aclOpExecutor *executor,
                           aclrtStream stream);

aclnnStatus aclnnLayerNormWithImplModeGetWorkspaceSize(const aclTensor *input,
                                                       const aclIntArray *normalizedShape,
                                                       const aclTensor *weightOptional,
                                                       const aclTensor *biasOptional,
                                                       double eps,
                                                       aclTensor *out,
                                                       aclTensor *meanOutOptional,
                                                       aclTensor *rstdOutOptional,
                                                       int32_t implMode,
                                                       uint64_t *workspaceSize,
                                                       aclOpExecutor **executor);

aclnnStatus aclnnLayerNormWithImplMode(void *workspace,
                                       uint64_t workspaceSize,
                                       aclOpExecutor *executor,
                                       aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_STUB_ACLNNOP_ACLNN_LAYER_NORM_H */
