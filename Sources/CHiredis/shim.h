#ifndef CIO_RELAY_CHIREDIS_SHIM_H
#define CIO_RELAY_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
