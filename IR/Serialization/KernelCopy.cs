using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Ternion.IR;

/// <summary>
/// File-to-file copies inside the kernel (Linux copy_file_range), as cp does: the bytes of a tensor
/// that is saved unchanged never pass through a user-space buffer, which halves the system time of a
/// convert. Anything the call does not support is left to the caller's read/write loop.
/// </summary>
internal static class KernelCopy
{
    private const int EXDEV = 18, EINVAL = 22, ENOSYS = 38, EOPNOTSUPP = 95, EINTR = 4, ENOSPC = 28;
    private static volatile bool s_unsupported = !OperatingSystem.IsLinux();

    [DllImport("libc", EntryPoint = "copy_file_range", SetLastError = true)]
    private static extern unsafe nint CopyFileRange(int fdIn, long* offIn, int fdOut, long* offOut, nuint len, uint flags);

    /// <summary>
    /// Copies up to <paramref name="length"/> bytes from <paramref name="source"/> at
    /// <paramref name="sourceOffset"/> to the current position of <paramref name="destination"/>,
    /// advancing it. Returns the number of bytes copied; fewer than asked (possibly 0) means the
    /// caller copies the rest itself. A write error such as a full disk is thrown as an IOException.
    /// </summary>
    public static unsafe long Copy(SafeFileHandle source, long sourceOffset, FileStream destination, long length)
    {
        if (s_unsupported || length <= 0 || !destination.CanSeek) return 0;
        destination.Flush();
        long inOff = sourceOffset, outOff = destination.Position, start = outOff;
        int inFd = (int)source.DangerousGetHandle(), outFd = (int)destination.SafeFileHandle.DangerousGetHandle();
        try
        {
            while (outOff - start < length)
            {
                long want = Math.Min(length - (outOff - start), 1L << 30);
                nint n = CopyFileRange(inFd, &inOff, outFd, &outOff, (nuint)want, 0);
                if (n > 0) continue;
                if (n == 0) break; // end of the source file: the caller's loop reports it
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EINTR) continue;
                if (errno is EXDEV or EINVAL or ENOSYS or EOPNOTSUPP)
                {
                    if (errno is ENOSYS or EOPNOTSUPP) s_unsupported = true;
                    break;
                }
                string why = errno == ENOSPC ? "No space left on device" : Marshal.GetPInvokeErrorMessage(errno);
                throw new IOException($"{destination.Name}: {why}", errno);
            }
        }
        finally { destination.Position = outOff; }
        return outOff - start;
    }
}
