using System.Runtime.InteropServices;
using Ternion.IR;

namespace Ternion.Passes.Constants;

/// <summary>
/// A constant an evaluator computed (or read): element type, dims and the bytes in ONNX's layout
/// (little-endian, sub-byte types packed). The bytes live in native memory owned by this object, or
/// are borrowed from a tensor that stays open while this object lives; disposing releases them.
/// </summary>
public sealed class ConstTensor : IDisposable
{
    private readonly Storage? _storage;
    private ReadOnlyMemory<byte> _bytes;
    private readonly NativeBuffer? _buffer;
    private bool _disposed;

    /// <summary>Who frees the bytes: shared by views of the same bytes (Reshape), freed with the last one.</summary>
    private sealed class Storage(IDisposable owner)
    {
        private int _refs = 1;
        public int Refs => Volatile.Read(ref _refs);
        /// <summary>The native buffer when this storage owns one (writable), else null (borrowed bytes).</summary>
        public NativeBuffer? Buffer => owner as NativeBuffer;
        public void AddRef() => Interlocked.Increment(ref _refs);
        public void Release()
        {
            if (Interlocked.Decrement(ref _refs) != 0) return;
            if (owner is NativeBuffer b) BufferPool.Return(b); else owner.Dispose();
        }
    }

    /// <summary>
    /// Large buffers freed by one evaluation are kept for the next (a model's layers repeat the same
    /// sizes): a fresh buffer costs a page fault per 4 KiB on first touch, a reused one nothing. At
    /// most <see cref="MaxPooledBytes"/> are kept; smaller buffers go straight back to the system.
    /// </summary>
    internal static class BufferPool
    {
        public const long MaxPooledBytes = 384L << 20;
        private const int MinPooledBytes = 1 << 20;
        private static readonly object Gate = new();
        private static readonly LinkedList<NativeBuffer> Free = new();
        private static long _pooled;

        /// <summary>Frees every kept buffer (once evaluation is over).</summary>
        public static void Trim()
        {
            lock (Gate)
            {
                foreach (var b in Free) ((IDisposable)b).Dispose();
                Free.Clear();
                _pooled = 0;
            }
        }

        public static NativeBuffer Rent(int bytes)
        {
            if (bytes >= MinPooledBytes)
                lock (Gate)
                    for (var node = Free.First; node is not null; node = node.Next)
                        if (node.Value.GetSpan().Length == bytes)
                        {
                            Free.Remove(node);
                            _pooled -= bytes;
                            return node.Value;
                        }
            return new NativeBuffer(bytes);
        }

        public static void Return(NativeBuffer b)
        {
            int length = b.GetSpan().Length;
            if (length < MinPooledBytes || length > MaxPooledBytes) { ((IDisposable)b).Dispose(); return; }
            lock (Gate)
            {
                Free.AddFirst(b);
                _pooled += length;
                // Oldest first out.
                while (_pooled > MaxPooledBytes && Free.Last is { } last)
                {
                    Free.RemoveLast();
                    _pooled -= last.Value.GetSpan().Length;
                    ((IDisposable)last.Value).Dispose();
                }
            }
        }
    }

    private ConstTensor(DataType type, long[] dims, ReadOnlyMemory<byte> bytes, Storage? storage, NativeBuffer? buffer)
    {
        Type = type; Dims = dims; _bytes = bytes; _storage = storage; _buffer = buffer;
    }

    public DataType Type { get; }
    public long[] Dims { get; }
    public long ElementCount => Tensor.ElementCountOf(Dims);
    public ReadOnlySpan<byte> Bytes => _bytes.Span;
    public ReadOnlyMemory<byte> Memory => _bytes;

    /// <summary>
    /// A fresh, writable tensor in native memory; its bytes are garbage unless <paramref name="zeroed"/>
    /// (most operators write every element, and clearing a large buffer is a pass of its own).
    /// </summary>
    public static ConstTensor Allocate(DataType type, long[] dims, bool zeroed = false)
    {
        long n = Tensor.ElementCountOf(dims);
        long bytes = DataTypes.ByteCount(type, n);
        if (n < 0 || bytes < 0 || bytes > int.MaxValue)
            throw new ConstantEvaluationException($"a {DataTypes.ShortName(type)}[{string.Join(",", dims)}] value is larger than one buffer holds (2 GiB)");
        var buffer = BufferPool.Rent((int)bytes);
        if (zeroed) buffer.GetSpan().Clear();
        return new ConstTensor(type, dims, buffer.Memory, new Storage(buffer), buffer);
    }

    /// <summary>Frees the buffers kept for reuse between evaluations (call when a compile's passes are done).</summary>
    public static void TrimPool() => BufferPool.Trim();

    /// <summary>Wraps bytes somebody else owns (an opened initializer); <paramref name="owner"/> is disposed with this.</summary>
    public static ConstTensor Borrow(DataType type, long[] dims, ReadOnlyMemory<byte> bytes, IDisposable? owner) =>
        new(type, dims, bytes, owner is null ? null : new Storage(owner), null);

    /// <summary>A small tensor from managed values (scalars, shapes).</summary>
    public static ConstTensor FromArray<T>(DataType type, long[] dims, T[] values) where T : unmanaged =>
        new(type, dims, MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), null, null);

    /// <summary>Writable bytes of a tensor made by <see cref="Allocate"/>.</summary>
    public Span<byte> Writable => _buffer is not null ? _buffer.GetSpan() : throw new InvalidOperationException("this constant is read-only");

    /// <summary>
    /// This tensor's own buffer, writable in place, when nothing else shares it (no view made by
    /// <see cref="Reshaped"/> is alive and the bytes are not borrowed); else null.
    /// </summary>
    internal Span<byte> Reusable => _storage is { Buffer: { } b, Refs: 1 } && !_disposed ? b.GetSpan()[.._bytes.Length] : default;
    internal bool CanReuse => _storage is { Buffer: not null, Refs: 1 } && !_disposed;

    /// <summary>
    /// Writable elements of a tensor whose buffer this evaluation owns: one from <see cref="Allocate"/>,
    /// or a view of a buffer handed over for an in-place result.
    /// </summary>
    internal Span<T> InPlaceWritable<T>() where T : unmanaged =>
        MemoryMarshal.Cast<byte, T>(_storage?.Buffer is { } b ? b.GetSpan()[.._bytes.Length] : throw new InvalidOperationException("this constant is read-only"));

    public ReadOnlySpan<T> As<T>() where T : unmanaged => MemoryMarshal.Cast<byte, T>(Bytes);
    public Span<T> AsWritable<T>() where T : unmanaged => MemoryMarshal.Cast<byte, T>(Writable);

    /// <summary>The same bytes under other dims (Reshape and friends copy nothing).</summary>
    public ConstTensor Reshaped(long[] dims)
    {
        _storage?.AddRef();
        return new(Type, dims, _bytes, _storage, null);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _storage?.Release();
        _bytes = default;
    }

    public override string ToString() => $"{DataTypes.ShortName(Type)}[{string.Join(",", Dims)}]";
}

/// <summary>
/// A constant cannot be computed: an unsupported case (another evaluator may try), or, with
/// <see cref="Undefined"/>, a value no implementation defines (an integer division by zero, a cast
/// out of range): then nobody tries, since a runtime may trap on it, and the cone stays as it is.
/// </summary>
public sealed class ConstantEvaluationException(string message, bool undefined = false) : Exception(message)
{
    public bool Undefined { get; } = undefined;
}
