using System.Runtime.InteropServices;

namespace Ternion.Backends.Kernels;

/// <summary>Shared plumbing of the matrix-vector kernels: row splitting over threads, scratch buffers, argument checks.</summary>
internal static unsafe class KernelSupport
{
    /// <summary>
    /// Largest K the int8 kernels accept: |sum_k t * q| &lt;= 127 K must fit an int, and the
    /// activation buffers (5 bytes of layout per packed byte) must fit an int length.
    /// </summary>
    internal const int MaxK = 1 << 24;

    /// <summary>
    /// Runs <paramref name="body"/>(first, end) over [0, rows) split into <paramref name="threads"/>
    /// contiguous ranges. The calling thread runs one of them (Parallel.For), and one thread runs inline with no hand-off.
    /// Ranges start on multiples of 8 rows so that no two threads write the same cache line of y.
    /// </summary>
    internal static void SplitRows(int rows, int threads, Action<int, int> body)
    {
        int parts = Math.Min(threads, (rows + 7) / 8);
        if (parts <= 1)
        {
            body(0, rows);
            return;
        }
        int per = (rows / parts + 7) & ~7;
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, i =>
        {
            int first = Math.Min(rows, i * per), end = i == parts - 1 ? rows : Math.Min(rows, first + per);
            if (first < end) body(first, end);
        });
    }

    /// <summary>A 64-byte aligned scratch block per thread, grown on demand and kept, so a token costs no allocation.</summary>
    [ThreadStatic] private static ScratchBlock? t_scratch;

    internal static byte* Scratch(int bytes)
    {
        var s = t_scratch;
        if (s is null || s.Length < bytes)
        {
            s?.Dispose();
            t_scratch = s = new ScratchBlock(Math.Max(bytes, 4096));
        }
        return s.Pointer;
    }

    /// <summary>Per-thread scratch blocks by slot, for kernels that need several buffers at once (tiles, partial sums).</summary>
    [ThreadStatic] private static ScratchBlock?[]? t_slots;

    internal static byte* Scratch(int slot, long bytes)
    {
        if (bytes > int.MaxValue) throw new InsufficientMemoryException($"a scratch buffer of {bytes:N0} bytes is too large");
        var slots = t_slots ??= new ScratchBlock?[4];
        var s = slots[slot];
        if (s is null || s.Length < bytes)
        {
            s?.Dispose();
            slots[slot] = s = new ScratchBlock((int)Math.Max(bytes, 4096));
        }
        return s.Pointer;
    }

    private sealed class ScratchBlock(int length) : IDisposable
    {
        public readonly int Length = length;
        public byte* Pointer { get; private set; } = (byte*)NativeMemory.AlignedAlloc((nuint)length, 64);

        public void Dispose()
        {
            if (Pointer != null) NativeMemory.AlignedFree(Pointer);
            Pointer = null;
            GC.SuppressFinalize(this);
        }

        ~ScratchBlock() => Dispose();
    }

    internal static void CheckScales(int scaleCount, int rows)
    {
        if (scaleCount != 1 && scaleCount != rows)
            throw new ArgumentException($"scales: {scaleCount} values, need 1 (per tensor) or {rows} (per channel)", "scales");
    }

    internal static void CheckOutput(int length, int rows, string name)
    {
        if (length < rows) throw new ArgumentException($"{name}: {length} elements, the matrix has {rows} rows", name);
    }

    internal static void CheckK(long k)
    {
        if (k > MaxK) throw new ArgumentException($"K = {k} is above the int8 kernels' limit of {MaxK}");
    }
}
