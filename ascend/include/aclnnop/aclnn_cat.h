/*
 * aclnnop/aclnn_cat.h -- declaration-only stand-in for the CANN operator header of the same name.
 *
 * Transcribed from the "函数原型" (function prototype) section of the public operator doc:
 *   github.com/hicann/ops-math  conversion/concat_d/docs/aclnnCat.md
 *   (snapshot c41933244c31e44fd496e3bb3212164f8c48c214)
 * and checked against the public op_api header github.com/hicann/ops-math conversion/concat_d/op_api/aclnn_cat.h.
 *
 * Declarations only: nothing here is implemented or linkable. It exists so generated host code
 * can be syntax-checked without the CANN toolkit; real Ascend builds use the toolkit headers.
 */
#ifndef ASCEND_STUB_ACLNNOP_ACLNN_CAT_H
#define ASCEND_STUB_ACLNNOP_ACLNN_CAT_H

#include <stdint.h>
#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

aclnnStatus aclnnCatGetWorkspaceSize(const aclTensorList *tensors,
                                     int64_t dim,
                                     aclTensor *out,
                                     uint64_t *workspaceSize,
                                     aclOpExecutor **executor);

aclnnStatus aclnnCat(void *workspace,
                     uint64_t workspaceSize,
                     aclOpExecutor *executor,
                     const aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_STUB_ACLNNOP_ACLNN_CAT_H */
