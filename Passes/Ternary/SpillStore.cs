using Microsoft.Win32.SafeHandles;
using Ternion.IR;

namespace Ternion.Passes.Ternary;

/// <summary>
/// A temporary file that holds tensors computed during the passes (weights packed from an evaluated
/// constant cone) until the model is written, so memory does not grow with the number of weights.
/// The file is deleted when the store is disposed, or by the system when the process ends.
/// </summary>
public sealed class SpillStore : IDisposable
{
    private readonly object _gate = new();
    private FileStream? _file;
    private long _length;
    private bool _disposed;

    /// <summary>Folder for the file (the system's temporary folder unless given).</summary>
    public string Folder { get; }

    public SpillStore(string? folder = null) { Folder = folder ?? Path.GetTempPath(); }

    /// <summary>Bytes written so far.</summary>
    public long Length { get { lock (_gate) return _length; } }

    /// <summary>Appends bytes (at a 64-byte aligned offset) and returns tensor data that reads them back.</summary>
    public TensorData Add(ReadOnlySpan<byte> bytes)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _file ??= new FileStream(Path.Combine(Folder, $"ternion-spill-{Environment.ProcessId}-{Guid.NewGuid():N}.tmp"),
                FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
            long offset = (_length + 63) & ~63L;
            RandomAccess.Write(_file.SafeFileHandle, bytes, offset);
            _length = offset + bytes.Length;
            return new SpilledTensorData(this, offset, bytes.Length);
        }
    }

    internal void Read(long offset, Span<byte> destination)
    {
        SafeFileHandle handle;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            handle = _file!.SafeFileHandle;
        }
        int done = 0;
        while (done < destination.Length)
        {
            int n = RandomAccess.Read(handle, destination[done..], offset + done);
            if (n <= 0) throw new IOException($"spill file ended at offset {offset + done}");
            done += n;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _file?.Dispose();
            _file = null;
        }
    }

    private sealed class SpilledTensorData(SpillStore store, long offset, int length) : TensorData
    {
        public override long Length => length;

        public override TensorBytes Open()
        {
            var buffer = new NativeBuffer(length);
            try
            {
                store.Read(offset, buffer.GetSpan());
                return new TensorBytes(buffer.Memory, buffer);
            }
            catch { ((IDisposable)buffer).Dispose(); throw; }
        }
    }
}
