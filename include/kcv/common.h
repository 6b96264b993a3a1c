/* kcv — common macros shared by every public header. */
#ifndef KCV_COMMON_H
#define KCV_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define KCV_BEGIN_DECLS extern "C" {
#define KCV_END_DECLS }
#else
#define KCV_BEGIN_DECLS
#define KCV_END_DECLS
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define KCV_API __attribute__((visibility("default")))
#define KCV_WARN_UNUSED __attribute__((warn_unused_result))
#define KCV_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define KCV_API
#define KCV_WARN_UNUSED
#define KCV_PRINTF(fmt, args)
#endif

#endif /* KCV_COMMON_H */
