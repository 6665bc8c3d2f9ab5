/*
 * acl/acl_base.h -- declaration-only stand-in for the CANN header of the same name.
 *
 * Transcribed from the public CANN Runtime API reference:
 *   github.com/hicann/runtime  docs/zh/api_ref/25-01_aclError.md        (aclError, ACL_SUCCESS, error codes)
 *   github.com/hicann/runtime  docs/zh/api_ref/25-02_Enumerations.md    (aclDataType, aclFormat)
 *   github.com/hicann/runtime  docs/zh/api_ref/25-05_Typedefs.md        (aclrtStream, aclrtContext, aclrtEvent)
 *   (snapshot 681ef7610df13c8128982901142a2c869ddbb53e)
 *
 * Declarations only: no definitions, nothing to link against. It exists so that
 * generated host code can be syntax-checked without the CANN toolkit. Builds for a
 * real Ascend machine must use the toolkit's own headers instead.
 */
#ifndef ASCEND_STUB_ACL_ACL_BASE_H
#define ASCEND_STUB_ACL_ACL_BASE_H

#include <stdint.h>
#include <stddef.h>
#ifndef __cplusplus
#include <stdbool.h>
#endif

#ifndef ACL_FUNC_VISIBILITY
#if defined(__GNUC__)
#define ACL_FUNC_VISIBILITY __attribute__((visibility("default")))
#else
#define ACL_FUNC_VISIBILITY
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- opaque runtime handles (25-05_Typedefs.md) ---- */
typedef void *aclrtStream;
typedef void *aclrtContext;
typedef void *aclrtEvent;

/* ---- error codes (25-01_aclError.md) ---- */
typedef int aclError;

static const int ACL_SUCCESS = 0;
static const int ACL_ERROR_NONE = 0; /* deprecated alias of ACL_SUCCESS */
static const int ACL_ERROR_INVALID_PARAM = 100000;
static const int ACL_ERROR_UNINITIALIZE = 100001;
static const int ACL_ERROR_REPEAT_INITIALIZE = 100002;

/* ---- data types (25-02_Enumerations.md, aclDataType) ---- */
typedef enum {
    ACL_DT_UNDEFINED  = -1,
    ACL_FLOAT         = 0,
    ACL_FLOAT16       = 1,
    ACL_INT8          = 2,
    ACL_INT32         = 3,
    ACL_UINT8         = 4,
    ACL_INT16         = 6,
    ACL_UINT16        = 7,
    ACL_UINT32        = 8,
    ACL_INT64         = 9,
    ACL_UINT64        = 10,
    ACL_DOUBLE        = 11,
    ACL_BOOL          = 12,
    ACL_STRING        = 13,
    ACL_COMPLEX64     = 16,
    ACL_COMPLEX128    = 17,
    ACL_BF16          = 27,
    ACL_INT4          = 29,
    ACL_UINT1         = 30,
    ACL_COMPLEX32     = 33,
    ACL_HIFLOAT8      = 34,
    ACL_FLOAT8_E5M2   = 35,
    ACL_FLOAT8_E4M3FN = 36,
    ACL_FLOAT8_E8M0   = 37,
    ACL_FLOAT6_E3M2   = 38,
    ACL_FLOAT6_E2M3   = 39,
    ACL_FLOAT4_E2M1   = 40,
    ACL_FLOAT4_E1M2   = 41
} aclDataType;

/* ---- tensor formats (25-02_Enumerations.md, aclFormat) ---- */
typedef enum {
    ACL_FORMAT_UNDEFINED        = -1,
    ACL_FORMAT_NCHW             = 0,
    ACL_FORMAT_NHWC             = 1,
    ACL_FORMAT_ND               = 2,
    ACL_FORMAT_NC1HWC0          = 3,
    ACL_FORMAT_FRACTAL_Z        = 4,
    ACL_FORMAT_NC1HWC0_C04      = 12,
    ACL_FORMAT_HWCN             = 16,
    ACL_FORMAT_NDHWC            = 27,
    ACL_FORMAT_FRACTAL_NZ       = 29,
    ACL_FORMAT_NCDHW            = 30,
    ACL_FORMAT_NDC1HWC0         = 32,
    ACL_FRACTAL_Z_3D            = 33,
    ACL_FORMAT_NC               = 35,
    ACL_FORMAT_NCL              = 47,
    ACL_FORMAT_FRACTAL_NZ_C0_16 = 50,
    ACL_FORMAT_FRACTAL_NZ_C0_32 = 51,
    ACL_FORMAT_FRACTAL_NZ_C0_2  = 52,
    ACL_FORMAT_FRACTAL_NZ_C0_4  = 53,
    ACL_FORMAT_FRACTAL_NZ_C0_8  = 54
} aclFormat;

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_STUB_ACL_ACL_BASE_H */
