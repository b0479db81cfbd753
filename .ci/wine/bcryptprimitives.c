/* Test harness only: Wine 8 (Debian 12) has no bcryptprimitives.dll!ProcessPrng, which the
 * Rust standard library imports on Windows. This stand-in forwards to BCryptGenRandom, which
 * Wine does implement. It is built by .ci/run for the Wine test run and never shipped. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
