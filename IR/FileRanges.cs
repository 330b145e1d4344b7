using System.Buffers;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Ternion.IR;

/// <summary>
/// Opens a file for reading without the advisory lock .NET takes on Unix (flock LOCK_SH for
/// FileShare.Read). A loaded model keeps its file open for as long as its tensors may be read; a
/// lock held that long would make any later exclusive open of the same path, in this process or
/// another .NET process, fail with "file in use", which means nothing on Linux.
/// </summary>
internal static class ReadOnlyFile
{
    private const int O_RDONLY = 0, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000;

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int OpenRaw([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    public static SafeFileHandle Open(string path)
    {
        if (!OperatingSystem.IsLinux()) return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        // O_NONBLOCK: opening a FIFO that replaced the file after it was checked must not block
        // (it has no effect on regular files); O_CLOEXEC: no child process inherits the model.
        int fd = OpenRaw(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            string why = Marshal.GetPInvokeErrorMessage(errno);
            if (errno == 13) throw new UnauthorizedAccessException($"{path}: {why}");
            throw new IOException($"{path}: {why}", errno);
        }
        return new SafeFileHandle(fd, ownsHandle: true);
    }
}

/// <summary>Copies a byte range of an open file into a stream: in the kernel when the stream is a file, else through a pooled buffer.</summary>
internal static class FileRangeCopy
{
    public static void CopyTo(SafeFileHandle source, string sourceName, long offset, long length, Stream destination)
    {
        if (length == 0) return;
        long done = destination is FileStream fs ? KernelCopy.Copy(source, offset, fs, length) : 0;
        if (done == length) return;
        var buf = ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            while (done < length)
            {
                int want = (int)Math.Min(buf.Length, length - done);
                int n = RandomAccess.Read(source, buf.AsSpan(0, want), offset + done);
                if (n <= 0) throw new TernionException($"{sourceName}: unexpected end of file at offset {offset + done} (was the file changed while it was read?)");
                destination.Write(buf, 0, n);
                done += n;
            }
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }
}

/// <summary>
/// A mapped view of part of a file, exposed as Memory; unmapped on dispose. Each read maps only its
/// range and unmaps it afterwards, so reading every weight of a model once does not leave the whole
/// file counted in the process's resident set.
/// </summary>
internal sealed unsafe class MappedRange : MemoryManager<byte>
{
    private MemoryMappedFile? _file;
    private readonly bool _ownsFile;
    private MemoryMappedViewAccessor? _view;
    private byte* _ptr;
    private readonly int _length;

    private readonly byte* _base;
    private readonly long _mappedLength;

    private MappedRange(MemoryMappedFile file, bool ownsFile, MemoryMappedViewAccessor view, int length)
    {
        _file = file; _ownsFile = ownsFile; _view = view; _length = length;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p;
        _mappedLength = view.PointerOffset + length;
        _ptr = p + view.PointerOffset;
    }

    private const int MADV_RANDOM = 1;

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(void* address, nuint length, int advice);

    /// <summary>
    /// Tells the kernel the range is read here and there, not in order: without it every page fault
    /// reads around the page (up to the device's read-ahead, 8 MB on some disks), so scanning the tags
    /// of a model's tensors would read their bytes too.
    /// </summary>
    public void AdviseRandomAccess()
    {
        // The hint only changes how much is read ahead; where it is unavailable, reading is still right.
        if (OperatingSystem.IsLinux() && _base is not null) Madvise(_base, (nuint)_mappedLength, MADV_RANDOM);
    }

    /// <summary>Maps a range of the file at <paramref name="path"/> (opened for this read only).</summary>
    public static MappedRange Create(string path, long offset, long length)
    {
        var file = MemoryMappedFile.CreateFromFile(
            new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read), null, 0,
            MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        try { return Create(file, ownsFile: true, offset, length); }
        catch { file.Dispose(); throw; }
    }

    /// <summary>Maps a range of an already open mapping object (which stays open after this view is disposed unless <paramref name="ownsFile"/>).</summary>
    public static MappedRange Create(MemoryMappedFile file, bool ownsFile, long offset, long length)
    {
        var view = file.CreateViewAccessor(offset, length, MemoryMappedFileAccess.Read);
        return new MappedRange(file, ownsFile, view, checked((int)length));
    }

    public override Span<byte> GetSpan() => new(_ptr, _length);
    public override MemoryHandle Pin(int elementIndex = 0) => new(_ptr + elementIndex);
    public override void Unpin() { }

    protected override void Dispose(bool disposing)
    {
        if (_view is null) return;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        if (_ownsFile) _file!.Dispose();
        _view = null; _file = null; _ptr = null;
    }
}
