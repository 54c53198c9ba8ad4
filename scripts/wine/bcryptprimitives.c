/*
 * bcryptprimitives.dll for Wine < 8.13: exports ProcessPrng, which Rust's standard
 * library (since 1.78) imports to seed its hash maps and which Wine only gained in
 * 8.13. Without it every Rust .exe exits with code 53 (DLL entry point not found)
 * before main. The buffer is filled through RtlGenRandom (advapi32's
 * SystemFunction036), which Wine has always had.
 *
 * Built and installed by scripts/windows-tests.sh; never used on real Windows, whose
 * own bcryptprimitives.dll (Windows 10 and later) has ProcessPrng.
 *
 *   x86_64-w64-mingw32-gcc -O2 -shared -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 */
#include <windows.h>

/* RtlGenRandom; declared here because mingw's headers hide it behind a macro. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* BOOL ProcessPrng(PBYTE pbData, SIZE_T cbData): fill the buffer with random bytes.
 * Windows documents it as always returning TRUE; RtlGenRandom takes a ULONG length,
 * so larger requests go in chunks. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
