/*
 * aclnnop/aclnn_batch_matmul.h -- declaration-only stand-in for the CANN operator header of the same name.
 *
 * Transcribed from the "函数原型" (function prototype) section of the public operator doc:
 *   github.com/hicann/ops-nn  matmul/batch_mat_mul_v3/docs/aclnnBatchMatMul.md
 *   (snapshot e5c3fa9327ea95ba26d06227e746923580d10921)
 * and checked against the public op_api header github.com/hicann/ops-nn matmul/batch_mat_mul_v3/op_host/op_api/aclnn_batch_matmul.h.
 *
 * Declarations only: nothing here is implemented or linkable. It exists so generated host code
 * can be syntax-checked without the CANN toolkit; real Ascend builds use the toolkit headers.
 */
#ifndef ASCEND_STUB_ACLNNOP_ACLNN_BATCH_MATMUL_H
#define ASCEND_STUB_ACLNNOP_ACLNN_BATCH_MATMUL_H

#include <stdint.h>
#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

aclnnStatus aclnnBatchMatMulGetWorkspaceSize(const aclTensor *self,
                                             const aclTensor *mat2,
                                             aclTensor *out,
                                             int8_t cubeMathType,
                                             uint64_t *workspaceSize,
                                             aclOpExecutor **executor);

aclnnStatus aclnnBatchMatMul(void *workspace,
                             uint64_t workspaceSize,
                             aclOpExecutor *executor,
                             aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_STUB_ACLNNOP_ACLNN_BATCH_MATMUL_H */
