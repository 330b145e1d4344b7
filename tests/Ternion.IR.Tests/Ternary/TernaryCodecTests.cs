using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using Ternion.IR.Ternary;

namespace Ternion.IR.Tests.Ternary;

/// <summary>Behaviour of the codec beyond the format facts: errors, failures, kernels and threads.</summary>
public class TernaryCodecTests
{
    // ------------------------------------------------------------ encode failures

    public static TheoryData<float, int> NonTernaryFloats => new()
    {
        { 0.25f, 0 }, { 0.25f, 17 }, { float.NaN, 5 }, { float.PositiveInfinity, 639 }, { float.NegativeInfinity, 1000 },
        { 1.0f, 3 }, { float.Epsilon, 2 }, { BitConverter.UInt32BitsToSingle(BitConverter.SingleToUInt32Bits(0.5f) + 1), 700 },
    };

    [Theory]
    [MemberData(nameof(NonTernaryFloats))]
    public void AValueThatIsNotZeroOrPlusMinusScaleFailsNamingIt(float bad, int at)
    {
        const float scale = 0.5f;
        var L = new TernaryLayout([40, 30], 0);
        var w = new float[L.ElementCount];
        for (int i = 0; i < w.Length; i++) w[i] = (i % 3 - 1) * scale;
        w[at] = bad;
        // A later second offender must not be the one reported.
        w[^1] = 0.125f;
        foreach (var (name, o) in Configs.All())
        {
            var r = TernaryCodec.Encode<Float32Kind, uint>(MemoryMarshal.Cast<float, uint>(w.AsSpan()), L,
                [BitConverter.SingleToUInt32Bits(scale)], new byte[L.PackedBytes], o);
            Assert.False(r.Succeeded, name);
            Assert.Equal(TernaryEncodeFailure.NotTernary, r.Failure);
            Assert.Equal(at, r.ElementIndex);
            Assert.Equal(at % 30, r.Channel);
            Assert.Equal(BitConverter.DoubleToInt64Bits((double)bad), BitConverter.DoubleToInt64Bits(r.Value));
            Assert.Equal(0.5, r.Scale);
        }
        var message = TernaryCodec.Encode(w, L, scale, new byte[L.PackedBytes]).Describe("blk.0.ffn_up.weight", L);
        Assert.Contains("blk.0.ffn_up.weight", message);
        Assert.Contains($"element {at} [{at / 30},{at % 30}]", message);
        var thrown = Assert.Throws<TernionException>(() => TernaryCodec.Encode(w, L, scale, new byte[L.PackedBytes]).ThrowIfFailed("W", L));
        Assert.Contains("'W'", thrown.Message);
    }

    [Fact]
    public void PerChannelScalesAreComparedChannelByChannel()
    {
        // [K=3, N=2] with axis 0: channel n = column n. Column 1's values are valid for column 0's scale only.
        var L = new TernaryLayout([3, 2], 0);
        var w = new float[] { 2, 3, -2, 0, 0, 2 };
        var r = TernaryCodec.Encode(w, L, [2f, 3f], new byte[L.PackedBytes]);
        Assert.False(r.Succeeded);
        Assert.Equal(5, r.ElementIndex);
        Assert.Equal(1, r.Channel);
        Assert.Equal(3, r.Scale);
        w[5] = -3;
        Assert.True(TernaryCodec.Encode(w, L, [2f, 3f], new byte[L.PackedBytes]).Succeeded);
    }

    [Fact]
    public void NonFiniteScalesFailBeforeAnyValueIsLookedAt()
    {
        var L = TernaryLayout.Matrix(3, 10);
        var w = new float[30];
        var r = TernaryCodec.Encode(w, L, [1f, float.PositiveInfinity, float.NaN], new byte[L.PackedBytes]);
        Assert.Equal(TernaryEncodeFailure.ScaleNotFinite, r.Failure);
        Assert.Equal(1, r.Channel);
        Assert.Equal(-1, r.ElementIndex);
        var r2 = TernaryCodec.Encode(w, L, float.NaN, new byte[L.PackedBytes]);
        Assert.Equal(TernaryEncodeFailure.ScaleNotFinite, r2.Failure);
        Assert.Equal(-1, r2.Channel);
        Assert.Equal(TernaryEncodeFailure.ScaleNotFinite, TernaryCodec.Encode(new Half[30], L, Half.PositiveInfinity, new byte[L.PackedBytes]).Failure);
        Assert.Equal(TernaryEncodeFailure.ScaleNotFinite, TernaryCodec.EncodeBFloat16(new ushort[30], L, (ushort)0x7FC0, new byte[L.PackedBytes]).Failure);
        Assert.Equal(TernaryEncodeFailure.ScaleNotFinite, TernaryCodec.Encode(new double[30], L, double.NegativeInfinity, new byte[L.PackedBytes]).Failure);
    }

    [Fact]
    public void ZeroScaleAcceptsOnlyZeros()
    {
        var L = TernaryLayout.Matrix(1, 400);
        var w = new float[400];
        w[77] = -0f;
        var packed = new byte[L.PackedBytes];
        foreach (var (name, o) in Configs.All())
        {
            Assert.True(TernaryCodec.Encode<Float32Kind, uint>(MemoryMarshal.Cast<float, uint>(w.AsSpan()), L, [0u], packed, o).Succeeded, name);
            Assert.True(packed.AsSpan().IndexOfAnyExcept((byte)0x79) < 0, name);
        }
        w[300] = float.Epsilon;
        var r = TernaryCodec.Encode(w, L, -0f, packed);
        Assert.Equal(300, r.ElementIndex);
    }

    [Fact]
    public void TritInputOutsideMinusOneToOneFails()
    {
        var L = TernaryLayout.Matrix(2, 333);
        var t = new sbyte[666];
        t[400] = 2;
        t[500] = -128;
        foreach (var (name, o) in Configs.All())
        {
            var r = TernaryCodec.Encode<TritKind, byte>(MemoryMarshal.AsBytes(t.AsSpan()), L, [1], new byte[L.PackedBytes], o);
            Assert.Equal(400, r.ElementIndex);
            Assert.Equal(2, r.Value);
            Assert.Equal(1, r.Channel);
        }
    }

    [Fact]
    public void NegativeZeroIsAZeroTritAndComesBackAsPositiveZero()
    {
        var L = TernaryLayout.Matrix(1, 3);
        var packed = new byte[64];
        Assert.True(TernaryCodec.Encode([-0f, 0f, -2f], L, 2f, packed).Succeeded);
        var back = new float[3];
        TernaryCodec.Decode(packed, L, 2f, back);
        Assert.Equal(0u, BitConverter.SingleToUInt32Bits(back[0]));
        Assert.Equal(-2f, back[2]);
    }

    // ------------------------------------------------------------ strict decode

    [Theory]
    [InlineData(243, 0)]
    [InlineData(255, 1)]
    [InlineData(250, 63)]
    [InlineData(244, 64 * 5 + 31)]
    [InlineData(248, 64 * 11 + 2)]
    public void ReservedBytesAreRejectedNamingTheTensorAndOffset(byte value, int offset)
    {
        // Rows are contiguous in one layout and strided in the other; the offset is into the packed tensor.
        foreach (var L in new[] { new TernaryLayout([12, 700], 1), new TernaryLayout([700, 12], 0), new TernaryLayout([3, 700, 4], 1) })
        {
            var packed = new byte[L.PackedBytes];
            Assert.True(TernaryCodec.Encode(new float[L.ElementCount], L, 1f, packed).Succeeded);
            packed[offset] = value;
            packed[^1] = 243; // a later one must not be reported instead
            foreach (var (name, o) in Configs.All())
            {
                var e = Assert.Throws<TernionException>(() =>
                    TernaryCodec.Decode<Float32Kind, uint>(packed, L, [0x3F80_0000u], new uint[L.ElementCount], "model.layers.3.mlp.down_proj", o));
                Assert.Contains("'model.layers.3.mlp.down_proj'", e.Message);
                Assert.Contains($"offset {offset} ", e.Message);
                Assert.Contains($"is {value}", e.Message);
            }
            var t = Assert.Throws<TernionException>(() => TernaryCodec.Decode(packed, L, new sbyte[L.ElementCount], "w"));
            Assert.Contains($"offset {offset} ", t.Message);
            Assert.Throws<TernionException>(() => TernaryCodec.Validate(packed, L, "w"));
        }
    }

    [Fact]
    public void ReservedBytesInPaddingAreRejectedToo()
    {
        var L = TernaryLayout.Matrix(2, 10);
        var packed = new byte[L.PackedBytes];
        Assert.True(TernaryCodec.Encode(new float[20], L, 1f, packed).Succeeded);
        packed[64 + 40] = 243;
        var e = Assert.Throws<TernionException>(() => TernaryCodec.Decode(packed, L, 1f, new float[20], "pad"));
        Assert.Contains("offset 104 ", e.Message);
    }

    [Fact]
    public void TableDecoderIsTotalAndReadsReservedBytesAsZeros()
    {
        var L = TernaryLayout.Matrix(1, 15);
        var packed = new byte[64];
        packed.AsSpan().Fill(0x79);
        packed[0] = 0xF2; packed[1] = 250; packed[2] = 0x00;
        var t = new sbyte[15];
        TernaryCodec.DecodeWithLut(packed, L, t);
        Assert.Equal(new sbyte[] { 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1 }, t);
        var f = new float[15];
        TernaryCodec.DecodeWithLut(packed, L, [3f], f);
        Assert.Equal(t.Select(x => x * 3f), f);
    }

    [Fact]
    public void TableDecoderFollowsTheFallbackFunctionsArithmetic()
    {
        // Gather + Cast + Mul: a zero trit times a negative scale is -0, times infinity NaN; the strict
        // decoder gives +0 for both, which is what round-tripping the original weight needs.
        var L = TernaryLayout.Matrix(1, 3);
        var packed = new byte[64];
        Assert.True(TernaryCodec.Encode<TritKind, byte>(MemoryMarshal.AsBytes(new sbyte[] { 1, 0, -1 }.AsSpan()), L, [1], packed, default).Succeeded);
        var f = new float[3];
        TernaryCodec.DecodeWithLut(packed, L, [-2f], f);
        Assert.Equal(new[] { -2f, -0f, 2f }, f);
        Assert.True(float.IsNegative(f[1]));
        TernaryCodec.DecodeWithLut(packed, L, [float.PositiveInfinity], f);
        Assert.True(float.IsNaN(f[1]));
        TernaryCodec.Decode(packed, L, float.PositiveInfinity, f);
        Assert.Equal(new[] { float.PositiveInfinity, 0f, float.NegativeInfinity }, f);
        Assert.False(float.IsNegative(f[1]));
    }

    [Fact]
    public void ValidateChecksLengthReservedBytesAndPadding()
    {
        var L = TernaryLayout.Matrix(2, 7);
        var packed = new byte[L.PackedBytes];
        Assert.True(TernaryCodec.Encode(new float[] { 1, 0, -1, 1, 0, -1, 1, 0, 0, 0, 0, 0, 0, 1 }, L, 1f, packed).Succeeded);
        TernaryCodec.Validate(packed, L, "ok");

        var e = Assert.Throws<TernionException>(() => TernaryCodec.Validate(packed.AsSpan(1), L, "short"));
        Assert.Contains("'short'", e.Message);

        var bad = (byte[])packed.Clone();
        bad[64 + 30] = 0x78;
        Assert.Contains("offset 94 ", Assert.Throws<TernionException>(() => TernaryCodec.Validate(bad, L, "w")).Message);

        // Byte 1 of a row holds trits 5, 6 and three padding trits; make padding trit 2 (digit position 2) non-zero.
        bad = (byte[])packed.Clone();
        bad[1] = (byte)(bad[1] + 9);
        Assert.Contains("padding trit 2 of the byte at offset 1", Assert.Throws<TernionException>(() => TernaryCodec.Validate(bad, L, "w")).Message);
    }

    [Fact]
    public void WrongLengthsAreArgumentErrors()
    {
        var L = TernaryLayout.Matrix(2, 7);
        Assert.Throws<ArgumentException>(() => TernaryCodec.Encode(new float[13], L, 1f, new byte[128]));
        Assert.Throws<ArgumentException>(() => TernaryCodec.Encode(new float[14], L, 1f, new byte[127]));
        Assert.Throws<ArgumentException>(() => TernaryCodec.Encode(new float[14], L, [1f, 2f, 3f], new byte[128]));
        Assert.Throws<ArgumentException>(() => TernaryCodec.Decode(new byte[129], L, 1f, new float[14]));
        Assert.Throws<ArgumentException>(() => TernaryCodec.Decode(new byte[128], L, 1f, new float[13]));
    }

    // ------------------------------------------------------------ public overloads per type

    [Fact]
    public void PublicOverloadsRoundTripEveryElementType()
    {
        var L = new TernaryLayout([5, 333, 2], 1, 640);
        var rng = new Random(11);
        var trits = Enumerable.Range(0, (int)L.ElementCount).Select(_ => (sbyte)(rng.Next(3) - 1)).ToArray();
        var scales = Enumerable.Range(0, (int)L.M).Select(i => 0.25f * (i + 1) * (i % 2 == 0 ? 1 : -1)).ToArray();
        float Value(int e, sbyte t) => t * scales[e / (333 * 2) * 2 + e % 2];

        // t * scale: zeros of negative channels are -0, which must come back as +0.
        var f = trits.Select((t, e) => Value(e, t)).ToArray();
        Assert.Contains(f, x => x == 0 && float.IsNegative(x));
        var plusZero = f.Select(x => x == 0 ? 0f : x).ToArray();
        var packed = new byte[L.PackedBytes];
        Assert.True(TernaryCodec.Encode(f, L, scales, packed).Succeeded);
        var expected = TernaryTestData.ReferencePack(trits, L.Shape, L.Axis, L.BlockSize);
        Assert.Equal(expected, packed);
        var f2 = new float[f.Length];
        TernaryCodec.Decode(packed, L, scales, f2);
        Assert.Equal(plusZero.Select(BitConverter.SingleToUInt32Bits), f2.Select(BitConverter.SingleToUInt32Bits));

        var h = f.Select(x => (Half)x).ToArray();
        var hs = scales.Select(x => (Half)x).ToArray();
        Array.Clear(packed);
        Assert.True(TernaryCodec.Encode(h, L, hs, packed).Succeeded);
        Assert.Equal(expected, packed);
        var h2 = new Half[h.Length];
        TernaryCodec.Decode(packed, L, hs, h2);
        Assert.Equal(plusZero.Select(x => BitConverter.HalfToUInt16Bits((Half)x)), h2.Select(BitConverter.HalfToUInt16Bits));

        var bf = f.Select(x => (ushort)(BitConverter.SingleToUInt32Bits(x) >> 16)).ToArray();
        var bs = scales.Select(x => (ushort)(BitConverter.SingleToUInt32Bits(x) >> 16)).ToArray();
        Array.Clear(packed);
        Assert.True(TernaryCodec.EncodeBFloat16(bf, L, bs, packed).Succeeded);
        Assert.Equal(expected, packed);
        var bf2 = new ushort[bf.Length];
        TernaryCodec.DecodeBFloat16(packed, L, bs, bf2);
        Assert.Equal(plusZero.Select(x => (ushort)(BitConverter.SingleToUInt32Bits(x) >> 16)), bf2);

        var d = f.Select(x => (double)x).ToArray();
        var ds = scales.Select(x => (double)x).ToArray();
        Array.Clear(packed);
        Assert.True(TernaryCodec.Encode(d, L, ds, packed).Succeeded);
        Assert.Equal(expected, packed);
        var d2 = new double[d.Length];
        TernaryCodec.Decode(packed, L, ds, d2);
        Assert.Equal(plusZero.Select(x => BitConverter.DoubleToUInt64Bits(x)), d2.Select(BitConverter.DoubleToUInt64Bits));

        Array.Clear(packed);
        Assert.True(TernaryCodec.Encode(trits, L, packed).Succeeded);
        Assert.Equal(expected, packed);
        var t2 = new sbyte[trits.Length];
        TernaryCodec.Decode(packed, L, t2);
        Assert.Equal(trits, t2);

        // Per-tensor overloads, and the table decoders agree with the strict ones on valid data.
        Array.Clear(packed);
        Assert.True(TernaryCodec.Encode(trits.Select(t => t * 1.5f).ToArray(), L, 1.5f, packed).Succeeded);
        var lut = new float[f.Length];
        TernaryCodec.DecodeWithLut(packed, L, [1.5f], lut);
        TernaryCodec.Decode(packed, L, 1.5f, f2);
        Assert.Equal(lut, f2);
        var hl = new Half[f.Length];
        TernaryCodec.DecodeWithLut(packed, L, [(Half)1.5f], hl);
        TernaryCodec.Decode(packed, L, (Half)1.5f, h2);
        Assert.Equal(hl, h2);
        var bl = new ushort[f.Length];
        TernaryCodec.DecodeBFloat16WithLut(packed, L, [0x3FC0], bl);
        TernaryCodec.DecodeBFloat16(packed, L, (ushort)0x3FC0, bf2);
        Assert.Equal(bl, bf2);
        var tl = new sbyte[f.Length];
        TernaryCodec.DecodeWithLut(packed, L, tl);
        Assert.Equal(trits, tl);
    }

    // ------------------------------------------------------------ kernels and threads

    [Fact]
    public void VectorAndScalarKernelsDecodeEveryByteAtEveryAlignmentAlike()
    {
        if (!Avx2.IsSupported) return; // the scalar kernel is the only one; the round-trip tests cover it
        var rng = new Random(3);
        // 243 values x 40 shifts: every byte value lands in every position of every vector step.
        const int Bytes = 243 * 40 + 37;
        var src = new byte[Bytes];
        for (int shift = 0; shift < 3; shift++)
        {
            for (int i = 0; i < Bytes; i++) src[i] = (byte)((i + shift * 17 + i / 243) % 243);
            foreach (int count in new[] { Bytes * 5, Bytes * 5 - 3, 161, 160, 159, 80, 79, 41, 40, 39, 7, 1 })
            {
                Check<byte>(src, count, 0xFF, 0x01);
                Check<ushort>(src, count, 0xBC00, 0x3C00);
                Check<uint>(src, count, 0xBF80_0000u, 0x3F80_0000u);
                Check<ulong>(src, count, 0xBFF0_0000_0000_0000UL, 0x3FF0_0000_0000_0000UL);
                Check<uint>(src, count, (uint)rng.Next(), (uint)rng.Next());
            }
        }

        static unsafe void Check<T>(byte[] src, int count, T neg, T pos) where T : unmanaged, System.Numerics.IBinaryInteger<T>
        {
            var a = new T[count + 8];
            var b = new T[count + 8];
            fixed (byte* s = src)
            fixed (T* pa = a)
            fixed (T* pb = b)
            {
                TernaryKernels.DecodeSegment(TernaryKernel.Avx2, s, pa, count, neg, pos);
                TernaryKernels.DecodeSegment(TernaryKernel.Scalar, s, pb, count, neg, pos);
            }
            CodecHarness.AssertValues<T>(b, a, $"{typeof(T).Name} x {count}");
            // And both agree with the LUT itself.
            var lut = TernaryLut.Table;
            for (int k = 0; k < count; k++)
            {
                int t = lut[src[k / 5] * 5 + k % 5];
                Assert.Equal(t == 1 ? pos : t == -1 ? neg : T.Zero, b[k]);
            }
        }
    }

    [Fact]
    public void VectorAndScalarEncodersAgreeOnEveryDigitPatternAndLength()
    {
        if (!Avx2.IsSupported) return;
        var rng = new Random(4);
        foreach (int count in new[] { 1, 4, 5, 31, 32, 33, 639, 640, 641, 1300 })
        {
            var t = Enumerable.Range(0, count).Select(i => (sbyte)(rng.Next(3) - 1)).ToArray();
            var f = t.Select(x => BitConverter.SingleToUInt32Bits(x * -3.5f)).ToArray();
            var h = t.Select(x => BitConverter.HalfToUInt16Bits((Half)(x * 0.1f))).ToArray();
            var d = t.Select(x => BitConverter.DoubleToUInt64Bits(x * 1e300)).ToArray();
            var tb = MemoryMarshal.AsBytes(t.AsSpan()).ToArray();
            Same(f, count, BitConverter.SingleToUInt32Bits(-3.5f), 0x8000_0000u);
            Same(h, count, BitConverter.HalfToUInt16Bits((Half)0.1f), (ushort)0x8000);
            Same(d, count, BitConverter.DoubleToUInt64Bits(1e300), 0x8000_0000_0000_0000UL);
            Same(tb, count, (byte)1, (byte)0xFE);
            // A bad element anywhere, in the vector part or the scalar tail, is reported by both.
            foreach (int at in new[] { 0, 7, 31, 32, 100, 639, 640, 700, count - 3, count - 1 })
            {
                if (at < 0 || at >= count) continue;
                Bad(f, at, 1u, count, BitConverter.SingleToUInt32Bits(-3.5f), 0x8000_0000u);
                Bad(h, at, (ushort)0x0400, count, BitConverter.HalfToUInt16Bits((Half)0.1f), (ushort)0x8000);
                Bad(d, at, 1UL << 40, count, BitConverter.DoubleToUInt64Bits(1e300), 0x8000_0000_0000_0000UL);
                Bad(tb, at, (byte)0x02, count, (byte)1, (byte)0xFE);
            }
        }

        static void Bad<T>(T[] v, int at, T flip, int count, T s, T sign) where T : unmanaged, System.Numerics.IBinaryInteger<T>
        {
            // Flipping a bit of a zero gives a tiny non-zero value; of ±scale, a nearby one; of a trit, 2, 3 or -2.
            var keep = v[at];
            v[at] ^= flip;
            Assert.False(Encode(v, count, s, sign, TernaryKernel.Avx2, out _), $"avx2 missed element {at} of {count}");
            Assert.False(Encode(v, count, s, sign, TernaryKernel.Scalar, out _), $"scalar missed element {at} of {count}");
            v[at] = keep;
        }

        static void Same<T>(T[] v, int count, T s, T sign) where T : unmanaged, System.Numerics.IBinaryInteger<T>
        {
            Assert.True(Encode(v, count, s, sign, TernaryKernel.Avx2, out var a));
            Assert.True(Encode(v, count, s, sign, TernaryKernel.Scalar, out var b));
            Assert.Equal(b, a);
        }

        static unsafe bool Encode<T>(T[] v, int count, T s, T sign, TernaryKernel k, out byte[] bytes) where T : unmanaged, System.Numerics.IBinaryInteger<T>
        {
            bytes = new byte[(count + 4) / 5];
            T zeroMask = sizeof(T) == 1 ? T.AllBitsSet : ~sign;
            fixed (T* p = v)
            fixed (byte* d = bytes)
                return TernaryKernels.EncodeSegment(k, p, count, d, s, s ^ sign, zeroMask);
        }
    }

    [Theory]
    [InlineData(ElementType.Float32, false)]
    [InlineData(ElementType.Float32, true)]
    [InlineData(ElementType.Float16, true)]
    [InlineData(ElementType.BFloat16, false)]
    public unsafe void StreamingStoresIntoAlignedStridedRowsDecodeExactly(ElementType type, bool perChannel)
    {
        // Streaming stores in the strided decoder need every row aligned, which managed arrays do not
        // promise; decode into aligned native memory so that path really runs.
        if (!Avx2.IsSupported) return;
        var L = new TernaryLayout([2, 677, 48], 1);
        var c = TernaryTestData.Make<ushort>(type, L, perChannel, new Random(21));
        if (type == ElementType.Float32)
        {
            var c32 = TernaryTestData.Make<uint>(type, L, perChannel, new Random(21));
            Check(c32);
        }
        else Check(c);

        void Check<T>(TernaryCase<T> data) where T : unmanaged, System.Numerics.IBinaryInteger<T>
        {
            var packed = TernaryTestData.ReferencePack(TernaryTestData.TritsOf(data), L.Shape, L.Axis, L.BlockSize);
            var expected = TernaryTestData.Canonical(data);
            nuint bytes = (nuint)(expected.Length * sizeof(T));
            void* mem = NativeMemory.AlignedAlloc(bytes, 64);
            try
            {
                var dst = new Span<T>(mem, expected.Length);
                dst.Fill(T.AllBitsSet);
                CodecHarness.Decode(type, packed, L, data.Scales, dst, "w", new CodecOptions(TernaryKernel.Avx2, 1, StreamingMinBytes: 0));
                CodecHarness.AssertValues<T>(expected, dst, $"{type} streaming strided decode");
            }
            finally { NativeMemory.AlignedFree(mem); }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void OneAndTwoThreadsGiveTheSameBytesForLargeTensorsThroughThePublicApi(int axis)
    {
        // Large enough to pass the default parallel threshold, so maxThreads really changes the path.
        long[] shape = axis == 0 ? [2000, 700] : [700, 2000];
        var L = new TernaryLayout(shape, axis);
        Assert.True(L.ElementCount >= CodecOptions.DefaultMinParallelElements * 4);
        var rng = new Random(9);
        var w = new float[L.ElementCount];
        for (int i = 0; i < w.Length; i++) w[i] = (rng.Next(3) - 1) * 0.75f;
        var one = new byte[L.PackedBytes];
        var two = new byte[L.PackedBytes];
        Assert.True(TernaryCodec.Encode(w, L, 0.75f, one, maxThreads: 1).Succeeded);
        Assert.True(TernaryCodec.Encode(w, L, 0.75f, two, maxThreads: 2).Succeeded);
        Assert.Equal(one, two);
        var trits = w.Select(x => (sbyte)(x > 0 ? 1 : x < 0 ? -1 : 0)).ToArray();
        Assert.Equal(TernaryTestData.ReferencePack(trits, shape, axis, 320), one);

        var d1 = new float[w.Length];
        var d2 = new float[w.Length];
        TernaryCodec.Decode(one, L, 0.75f, d1, maxThreads: 1);
        TernaryCodec.Decode(one, L, 0.75f, d2, maxThreads: 2);
        Assert.Equal(w.Select(x => x == 0 ? 0f : x), d1);
        Assert.Equal(d1, d2);

        // The first offender is the same whichever thread meets one first.
        w[w.Length - 5] = 0.5f;
        w[w.Length / 2 + 3] = 0.5f;
        Assert.Equal(w.Length / 2 + 3, TernaryCodec.Encode(w, L, 0.75f, one, maxThreads: 2).ElementIndex);
        Assert.Equal(w.Length / 2 + 3, TernaryCodec.Encode(w, L, 0.75f, one, maxThreads: 1).ElementIndex);
    }
}
