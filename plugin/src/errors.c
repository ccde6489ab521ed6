/* errors.c: hf_strerror(), the text for every enum hf_err code. */
#include "holdfast.h"

HF_API const char *hf_strerror(int code)
{
	switch (code) {
	case HF_EOK: return "OK";
	case HF_ENOMEM: return "out of memory";
	case HF_EINVAL: return "invalid argument";
	case HF_ENOENT: return "not found";
	case HF_ERANGE: return "value out of range";
	case HF_ESPACE: return "buffer too small";
	case HF_EIO: return "I/O error";
	case HF_EPARSE: return "parse error";
	case HF_ECONFIG: return "configuration error";
	case HF_EMALF: return "malformed DNS message";
	case HF_EMANIFEST: return "bad manifest";
	default: return "unknown error";
	}
}

HF_API int hf_abi_version(void)
{
	return HF_ABI_VERSION;
}

HF_API const char *hf_version(void)
{
#ifdef HF_VERSION
	return HF_VERSION;
#else
	return "0.0.0";
#endif
}
