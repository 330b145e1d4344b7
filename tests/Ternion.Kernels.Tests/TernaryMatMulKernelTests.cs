using Ternion.Backends.Kernels;
using Ternion.Backends.Kernels.Ops;
using Ternion.IR;
using Ternion.IR.Ternary;

namespace Ternion.Kernels.Tests;

/// <summary>
/// The compute of TernaryMatMul and TernaryMatMulAbsmaxInt8 on every instruction set this CPU has
/// (AVX-512 VBMI, AVX2 and scalar, forced one by one), on the matrix-vector path (up to 3 tokens)
/// and the tiled path (more), against plain sums over the decoded weight.
/// </summary>
public unsafe class TernaryMatMulKernelTests
{
    public static TheoryData<GemvIsa> Paths()
    {
        var d = new TheoryData<GemvIsa>();
        foreach (var isa in Reference.Paths()) d.Add(isa);
        return d;
    }

    // K not a multiple of 320 (and one that is), tokens on both sides of the matrix-vector limit,
    // rows that are not a multiple of the 4-row micro-kernel or the 64-row tile.
    private static readonly (int K, int N, int Tokens, int Block)[] Shapes =
    [
        (1, 3, 1, 320), (333, 7, 1, 320), (700, 67, 2, 640), (320, 9, 3, 320), (1001, 70, 4, 320),
        (2563, 5, 5, 640), (96, 130, 7, 320), (641, 64, 67, 320),
    ];

    private static (sbyte[] Trits, byte[] Packed, float[] Scales) Weight(Random rnd, int n, int k, int block, bool perChannel)
    {
        var trits = Reference.RandomTrits(rnd, n * k);
        var packed = Reference.PackTtf1(trits, n, k, block);
        var scales = perChannel ? Reference.RandomFloats(rnd, n).Select(v => Math.Abs(v) + 0.05f).ToArray() : [0.0375f];
        return (trits, packed, scales);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void FloatProductsMatchTheDecodedWeightWithinFloatRounding(GemvIsa isa)
    {
        var rnd = new Random(11);
        foreach (var (k, n, tokens, block) in Shapes)
            foreach (bool perChannel in new[] { false, true })
            {
                var (trits, packed, scales) = Weight(rnd, n, k, block, perChannel);
                var x = Reference.RandomFloats(rnd, tokens * k, 3);
                var bias = Reference.RandomFloats(rnd, n);
                var y = new float[tokens * n];
                var kernel = new TernaryMatMulKernel(k, n, block, null, isa);
                fixed (float* xp = x) fixed (byte* w = packed) fixed (float* s = scales) fixed (float* b = bias) fixed (float* yp = y)
                    kernel.Run(xp, tokens, w, s, scales.Length, perChannel ? b : null, yp, new DotNetPoolRunner(2));
                for (int t = 0; t < tokens; t++)
                    for (int m = 0; m < n; m++)
                    {
                        double exact = 0, magnitude = 0;
                        for (int e = 0; e < k; e++)
                        {
                            double term = (double)x[t * k + e] * trits[m * k + e];
                            exact += term;
                            magnitude += Math.Abs(term);
                        }
                        double s = scales[perChannel ? m : 0];
                        exact = exact * s + (perChannel ? bias[m] : 0);
                        // float32 sums of K terms: a few units of 2^-24 of the terms' magnitude.
                        double tolerance = 64 * Math.Pow(2, -24) * (magnitude * s + Math.Abs(exact)) + 1e-30;
                        Assert.True(Math.Abs(y[t * n + m] - exact) <= tolerance,
                            $"{isa} K={k} N={n} tokens={tokens} perChannel={perChannel}: y[{t},{m}] = {y[t * n + m]}, expected {exact} ± {tolerance}");
                    }
            }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Float16ActivationsRoundOnlyOnTheWayInAndOut(GemvIsa isa)
    {
        var rnd = new Random(5);
        const int k = 777, n = 19;
        foreach (int tokens in new[] { 1, 6 })
        {
            var (trits, packed, _) = Weight(rnd, n, k, 320, false);
            var x = Reference.RandomFloats(rnd, tokens * k).Select(v => (Half)v).ToArray();
            var scale = new[] { (Half)0.25f };
            var y = new Half[tokens * n];
            var kernel = new TernaryMatMulKernel(k, n, 320, null, isa);
            fixed (Half* xp = x) fixed (byte* w = packed) fixed (Half* s = scale) fixed (Half* yp = y)
                kernel.Run(xp, tokens, w, s, 1, null, yp, SequentialRunner.Instance);
            for (int t = 0; t < tokens; t++)
                for (int m = 0; m < n; m++)
                {
                    double exact = 0;
                    for (int e = 0; e < k; e++) exact += (double)(float)x[t * k + e] * trits[m * k + e];
                    exact *= 0.25;
                    double got = (double)y[t * n + m];
                    Assert.True(Math.Abs(got - exact) <= Math.Abs(exact) * Math.Pow(2, -10) + 1e-3, $"{isa} tokens={tokens}: y[{t},{m}] = {got}, expected {exact}");
                }
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void AbsmaxInt8IsTheExactIntegerProductOfTheModelsQuantization(GemvIsa isa)
    {
        var rnd = new Random(7);
        var quant = new AbsmaxInt8Quantization(127f, 1e-5f, -128, 127);
        foreach (var (k, n, tokens, block) in Shapes)
        {
            var (trits, packed, scales) = Weight(rnd, n, k, block, perChannel: true);
            var x = Reference.RandomFloats(rnd, tokens * k, 2);
            if (tokens > 1) Array.Clear(x, k, k); // an all-zero token: max clamps to eps
            var y = new float[tokens * n];
            var kernel = new TernaryMatMulKernel(k, n, block, quant, isa);
            fixed (float* xp = x) fixed (byte* w = packed) fixed (float* s = scales) fixed (float* yp = y)
                kernel.Run(xp, tokens, w, s, n, null, yp, new DotNetPoolRunner(2));
            for (int t = 0; t < tokens; t++)
            {
                // The model's float32 steps, written out independently: max |x|, clamp, 127 / m, x * s, round half to even, clip.
                float max = 0;
                for (int e = 0; e < k; e++) max = MathF.Max(max, MathF.Abs(x[t * k + e]));
                float sx = 127f / MathF.Max(max, 1e-5f);
                var q = new int[k];
                for (int e = 0; e < k; e++) q[e] = (int)Math.Clamp(MathF.Round(x[t * k + e] * sx, MidpointRounding.ToEven), -128f, 127f);
                for (int m = 0; m < n; m++)
                {
                    long dot = 0;
                    for (int e = 0; e < k; e++) dot += (long)q[e] * trits[m * k + e];
                    double exact = dot * (double)scales[m] / sx;
                    Assert.True(Math.Abs(y[t * n + m] - exact) <= Math.Abs(exact) * 1e-6 + 1e-30, $"{isa} K={k} tokens={tokens}: y[{t},{m}] = {y[t * n + m]}, expected {exact}");
                }
            }
        }
    }

    [Fact]
    public void AbsmaxInt8GivesNaNForATokenWithANonFiniteActivation()
    {
        var quant = new AbsmaxInt8Quantization(127f, 1e-5f, -128, 127);
        const int k = 64, n = 4;
        var packed = Reference.PackTtf1(new sbyte[n * k], n, k);
        var x = new float[2 * k];
        x[3] = float.PositiveInfinity;
        x[k + 1] = 1;
        var y = new float[2 * n];
        fixed (float* xp = x) fixed (byte* w = packed) fixed (float* yp = y)
        {
            float s = 1;
            new TernaryMatMulKernel(k, n, 320, quant).Run(xp, 2, w, &s, 1, null, yp, SequentialRunner.Instance);
        }
        Assert.All(y[..n], v => Assert.True(float.IsNaN(v)));
        Assert.All(y[n..], v => Assert.Equal(0f, v));
    }

    [Fact]
    public void AReservedByteIsReportedWithItsOffset()
    {
        var kernel = new TernaryMatMulKernel(700, 3, 320);
        var packed = new byte[kernel.Layout.PackedBytes];
        Array.Fill(packed, TernaryLut.ZeroByte);
        packed[200] = 243;
        var e = Assert.Throws<TernionException>(() => kernel.CheckBytes(packed, "w.ttf1"));
        Assert.Contains("'w.ttf1'", e.Message);
        Assert.Contains("offset 200", e.Message);
    }
}
