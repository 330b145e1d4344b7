using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Parameters;
using Ternion.IR.Ternary;

namespace Ternion.Bench;

/// <summary>
/// Buffers shared by the TTF1 codec benchmarks: ternary float32 weights and int8 trits in rows of
/// K = 2560 (BitNet-2B's hidden size, a whole number of 320-trit blocks), packed forms, and
/// destinations. Sizes are the logical data: "256KiB" stays in L2, "256MiB" goes to DRAM.
/// Everything is 64-byte aligned native memory, written once in setup so no page faults are timed.
/// </summary>
public abstract unsafe class TernaryBenchmarkBase
{
    public const int K = 2560;
    public const float Scale = 0.5f;

    [Params("256KiB", "256MiB")]
    public string Size { get; set; } = "256KiB";

    [Params(1, 2)]
    public int Threads { get; set; } = 1;

    /// <summary>Rows of K elements closest to the size, a multiple of <paramref name="multiple"/>.</summary>
    protected static long Rows(string size, int elementBytes, int multiple = 1)
    {
        long bytes = size switch { "256KiB" => 256L << 10, "256MiB" => 256L << 20, _ => throw new ArgumentException(size) };
        long unit = (long)K * elementBytes * multiple;
        return Math.Max(1, (bytes + unit / 2) / unit) * multiple;
    }

    protected static T* Alloc<T>(long count) where T : unmanaged
    {
        var p = (T*)NativeMemory.AlignedAlloc((nuint)(count * sizeof(T)), 64);
        new Span<byte>(p, checked((int)(count * sizeof(T)))).Clear();
        return p;
    }

    protected static void Free(void* p) => NativeMemory.AlignedFree(p);

    /// <summary>Uniform random trits from a cheap generator, so setting up 256M of them stays quick.</summary>
    protected static void FillTrits(sbyte* t, long n, ulong seed)
    {
        ulong x = seed | 1;
        for (long i = 0; i < n; i++)
        {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            t[i] = (sbyte)((int)((x >> 32) % 3) - 1);
        }
    }

    /// <summary>
    /// The baseline: copying the same number of bytes the codec writes, with the same threading
    /// rule as the codec (a second thread only from 2^18 elements up).
    /// </summary>
    protected void Memcpy(byte* src, byte* dst, long bytes, long elements)
    {
        int threads = elements >= 1 << 18 ? Threads : 1;
        if (threads == 1)
        {
            Buffer.MemoryCopy(src, dst, bytes, bytes);
            return;
        }
        long part = (bytes / threads + 63) & ~63L;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
        {
            long from = i * part, n = Math.Min(part, bytes - from);
            if (n > 0) Buffer.MemoryCopy(src + from, dst + from, n, n);
        });
    }
}

/// <summary>
/// Encode from float32, decode to float32 and to int8 trits, rows contiguous (Gemm transB=1 weight
/// [N, K], axis 1), each next to a memcpy of the same bytes in the same run.
/// GiB/s counts the float32 side for float32 work (4 bytes per value) and trits for int8.
/// </summary>
[Config(typeof(ThroughputConfig))]
public unsafe class TernaryCodecBenchmarks : TernaryBenchmarkBase
{
    private TernaryLayout _f32, _i8;
    private long _nf, _n8;
    private float* _weights, _decoded, _copy;
    private sbyte* _trits, _tritsOut;
    private byte* _packedF32, _packedI8;

    public static long ProcessedBytes(string method, ParameterInstances p)
    {
        var size = (string)p["Size"]!;
        return method.Contains("Int8") ? Rows(size, 1) * K : Rows(size, 4) * K * 4;
    }

    [GlobalSetup]
    public void Setup()
    {
        _f32 = TernaryLayout.Matrix(Rows(Size, 4), K);
        _i8 = TernaryLayout.Matrix(Rows(Size, 1), K);
        _nf = _f32.ElementCount; _n8 = _i8.ElementCount;
        _trits = Alloc<sbyte>(Math.Max(_nf, _n8));
        FillTrits(_trits, Math.Max(_nf, _n8), 0x9E3779B97F4A7C15UL);
        _weights = Alloc<float>(_nf); _decoded = Alloc<float>(_nf); _copy = Alloc<float>(_nf);
        for (long i = 0; i < _nf; i++) _weights[i] = _trits[i] * Scale;
        _tritsOut = Alloc<sbyte>(_n8);
        _packedF32 = Alloc<byte>(_f32.PackedBytes); _packedI8 = Alloc<byte>(_i8.PackedBytes);
        if (!TernaryCodec.Encode(new ReadOnlySpan<float>(_weights, (int)_nf), _f32, Scale, new Span<byte>(_packedF32, (int)_f32.PackedBytes)).Succeeded ||
            !TernaryCodec.Encode(new ReadOnlySpan<sbyte>(_trits, (int)_n8), _i8, new Span<byte>(_packedI8, (int)_i8.PackedBytes)).Succeeded)
            throw new InvalidOperationException("benchmark data is not ternary");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        Free(_weights); Free(_decoded); Free(_copy); Free(_trits); Free(_tritsOut); Free(_packedF32); Free(_packedI8);
    }

    [Benchmark, BenchmarkCategory("float32")]
    public bool EncodeFloat32() =>
        TernaryCodec.Encode(new ReadOnlySpan<float>(_weights, (int)_nf), _f32, Scale, new Span<byte>(_packedF32, (int)_f32.PackedBytes), Threads).Succeeded;

    [Benchmark, BenchmarkCategory("float32")]
    public void DecodeFloat32() =>
        TernaryCodec.Decode(new ReadOnlySpan<byte>(_packedF32, (int)_f32.PackedBytes), _f32, Scale, new Span<float>(_decoded, (int)_nf), "w", Threads);

    [Benchmark(Baseline = true), BenchmarkCategory("float32")]
    public void MemcpyFloat32() => Memcpy((byte*)_weights, (byte*)_copy, _nf * 4, _nf);

    [Benchmark, BenchmarkCategory("int8")]
    public void DecodeInt8() =>
        TernaryCodec.Decode(new ReadOnlySpan<byte>(_packedI8, (int)_i8.PackedBytes), _i8, new Span<sbyte>(_tritsOut, (int)_n8), "w", Threads);

    [Benchmark(Baseline = true), BenchmarkCategory("int8")]
    public void MemcpyInt8() => Memcpy((byte*)_trits, (byte*)_tritsOut, _n8, _n8);
}

/// <summary>
/// The same float32 work on a MatMul weight [K, N] packed along axis 0, where each channel is a
/// column: the layout most ONNX exports use, served by the vertical (strided) kernels.
/// </summary>
[Config(typeof(ThroughputConfig))]
public unsafe class TernaryStridedBenchmarks : TernaryBenchmarkBase
{
    private TernaryLayout _layout;
    private long _n;
    private float* _weights, _decoded, _copy;
    private byte* _packed;

    /// <summary>
    /// In cache: one block of K (320) by N = 200 (250 KiB); in DRAM: K = 2560 by N = 26216 (256 MiB).
    /// N is a multiple of 8 in both, as real hidden sizes are: the vertical kernels take 8 channels at
    /// a time, and a [2560, 24] matrix would measure call overhead more than the kernels.
    /// </summary>
    private static long[] Shape(string size) => size == "256KiB" ? [320, 200] : [K, Rows(size, 4, 8)];

    public static long ProcessedBytes(string method, ParameterInstances p) => Shape((string)p["Size"]!).Aggregate(4L, (a, d) => a * d);

    [GlobalSetup]
    public void Setup()
    {
        _layout = new TernaryLayout(Shape(Size), 0);
        _n = _layout.ElementCount;
        var t = Alloc<sbyte>(_n);
        FillTrits(t, _n, 0xD1B54A32D192ED03UL);
        _weights = Alloc<float>(_n); _decoded = Alloc<float>(_n); _copy = Alloc<float>(_n);
        for (long i = 0; i < _n; i++) _weights[i] = t[i] * Scale;
        Free(t);
        _packed = Alloc<byte>(_layout.PackedBytes);
        if (!TernaryCodec.Encode(new ReadOnlySpan<float>(_weights, (int)_n), _layout, Scale, new Span<byte>(_packed, (int)_layout.PackedBytes)).Succeeded)
            throw new InvalidOperationException("benchmark data is not ternary");
    }

    [GlobalCleanup]
    public void Cleanup() { Free(_weights); Free(_decoded); Free(_copy); Free(_packed); }

    [Benchmark, BenchmarkCategory("float32 [K,N] axis 0")]
    public bool EncodeFloat32Strided() =>
        TernaryCodec.Encode(new ReadOnlySpan<float>(_weights, (int)_n), _layout, Scale, new Span<byte>(_packed, (int)_layout.PackedBytes), Threads).Succeeded;

    [Benchmark, BenchmarkCategory("float32 [K,N] axis 0")]
    public void DecodeFloat32Strided() =>
        TernaryCodec.Decode(new ReadOnlySpan<byte>(_packed, (int)_layout.PackedBytes), _layout, Scale, new Span<float>(_decoded, (int)_n), "w", Threads);

    [Benchmark(Baseline = true), BenchmarkCategory("float32 [K,N] axis 0")]
    public void MemcpyFloat32() => Memcpy((byte*)_weights, (byte*)_copy, _n * 4, _n);
}

/// <summary>AVX2 against the scalar fallback, one thread, cache-resident, rows contiguous.</summary>
[Config(typeof(ThroughputConfig))]
public unsafe class TernaryKernelBenchmarks
{
    private const int K = TernaryBenchmarkBase.K;
    private TernaryLayout _layout;
    private long _n;
    private uint* _weights, _decoded;
    private byte* _packed;
    private static readonly uint ScaleBits = BitConverter.SingleToUInt32Bits(TernaryBenchmarkBase.Scale);

    [Params("Scalar", "Avx2")]
    public string Kernel { get; set; } = "Avx2";

    private CodecOptions Options => new(Kernel == "Avx2" ? TernaryKernel.Avx2 : TernaryKernel.Scalar, 1);

    public static long ProcessedBytes(string method, ParameterInstances p) => 26L * K * 4;

    [GlobalSetup]
    public void Setup()
    {
        _layout = TernaryLayout.Matrix(26, K);
        _n = _layout.ElementCount;
        _weights = (uint*)NativeMemory.AlignedAlloc((nuint)(_n * 4), 64);
        _decoded = (uint*)NativeMemory.AlignedAlloc((nuint)(_n * 4), 64);
        _packed = (byte*)NativeMemory.AlignedAlloc((nuint)_layout.PackedBytes, 64);
        var rng = new Random(7);
        for (long i = 0; i < _n; i++) _weights[i] = BitConverter.SingleToUInt32Bits((rng.Next(3) - 1) * TernaryBenchmarkBase.Scale);
        EncodeFloat32();
    }

    [GlobalCleanup]
    public void Cleanup() { NativeMemory.AlignedFree(_weights); NativeMemory.AlignedFree(_decoded); NativeMemory.AlignedFree(_packed); }

    [Benchmark, BenchmarkCategory("float32")]
    public bool EncodeFloat32() => TernaryCodec.Encode<Float32Kind, uint>(new ReadOnlySpan<uint>(_weights, (int)_n), _layout,
        new ReadOnlySpan<uint>(in ScaleBits), new Span<byte>(_packed, (int)_layout.PackedBytes), Options).Succeeded;

    [Benchmark, BenchmarkCategory("float32")]
    public void DecodeFloat32() => TernaryCodec.Decode<Float32Kind, uint>(new ReadOnlySpan<byte>(_packed, (int)_layout.PackedBytes), _layout,
        new ReadOnlySpan<uint>(in ScaleBits), new Span<uint>(_decoded, (int)_n), "w", Options);

    [Benchmark(Baseline = true), BenchmarkCategory("float32")]
    public void MemcpyFloat32() => Buffer.MemoryCopy(_weights, _decoded, _n * 4, _n * 4);
}
