using System.Runtime.InteropServices;

namespace Ternion.IR.Serialization;

/// <summary>
/// Starts the disk writes of an output file while it is still being written (Linux
/// sync_file_range with SYNC_FILE_RANGE_WRITE: asynchronous, it waits for nothing), so the fsync
/// before the file is renamed into place finds most of it on disk already instead of writing all of
/// it then. Elsewhere, or where the call is refused, it does nothing and the fsync does the work.
/// </summary>
internal sealed class Writeback
{
    private const uint SYNC_FILE_RANGE_WRITE = 2;
    /// <summary>Writes are started in runs of at least this many bytes.</summary>
    private const long Step = 8 << 20;
    private static volatile bool s_unsupported = !OperatingSystem.IsLinux();

    [DllImport("libc", EntryPoint = "sync_file_range", SetLastError = true)]
    private static extern int SyncFileRange(int fd, long offset, long nbytes, uint flags);

    private long _started;

    /// <summary>Call after writing to <paramref name="file"/>: starts the writes of what has accumulated since the last call that did.</summary>
    public void Advance(FileStream file)
    {
        if (s_unsupported) return;
        long end = file.Position;
        if (end - _started < Step) return;
        file.Flush(); // the stream's buffer into the page cache, so the range is all there
        if (SyncFileRange((int)file.SafeFileHandle.DangerousGetHandle(), _started, end - _started, SYNC_FILE_RANGE_WRITE) != 0)
        {
            s_unsupported = true; // ENOSYS, ESPIPE, EINVAL: not worth asking again
            return;
        }
        _started = end;
    }
}
