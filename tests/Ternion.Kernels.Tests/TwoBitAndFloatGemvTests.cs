using Ternion.Backends.Kernels;

namespace Ternion.Kernels.Tests;

public class TwoBitGemvTests
{
    [Fact]
    public void PackPutsElementPOfEachQuarterBlockInByteP()
    {
        // Elements 0, 64, 128, 192 share byte 0 at bits 0, 2, 4, 6; element 256 starts the second block.
        var t = new sbyte[300];
        t[0] = -1; t[64] = 1; t[128] = -1; t[192] = 1; t[5] = 1; t[256] = -1; t[299] = 1;
        var packed = TwoBitGemv.Pack(t, 1, 300);
        Assert.Equal(128, packed.Length);
        Assert.Equal(0b10_00_10_00, packed[0]);       // q = 0, 2, 0, 2
        Assert.Equal(0b01_01_01_10, packed[5]);       // element 5 is +1, the rest zero
        Assert.Equal(0b01_01_01_00, packed[64]);      // element 256
        Assert.Equal(0b01_01_01_10, packed[64 + 43]); // element 299 = 256 + 43
        Assert.Equal(TwoBitGemv.ZeroByte, packed[64 + 44]); // padding past K
        Assert.Throws<ArgumentException>(() => TwoBitGemv.Pack([2], 1, 1));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(5, 63)]
    [InlineData(9, 255)]
    [InlineData(17, 256)]
    [InlineData(13, 257)]
    [InlineData(33, 1001)]
    [InlineData(40, 2560)]
    [InlineData(19, 6912)]
    public void DotIsTheExactIntegerSumOnEveryPathAndThreadCount(int rows, int k)
    {
        var rnd = new Random(rows * 31 + k);
        var trits = Reference.RandomTrits(rnd, rows * k);
        var packed = TwoBitGemv.Pack(trits, rows, k);
        var x = Int8Vector.FromQuantized(Reference.RandomInt8(rnd, k), 1f);
        var expected = Reference.Dots(trits, rows, k, x.Values);
        foreach (var isa in Reference.Paths())
            foreach (int threads in new[] { 1, 2 })
            {
                var dots = new int[rows];
                TwoBitGemv.Dot(packed, rows, k, x, dots, new GemvOptions(threads, isa));
                Reference.Equal(expected, dots);
            }
    }

    [Fact]
    public void LargestSumsDoNotOverflowThe16BitPartials()
    {
        const int k = 6912;
        var trits = new sbyte[2 * k];
        for (int e = 0; e < k; e++) { trits[e] = 1; trits[k + e] = -1; }
        var packed = TwoBitGemv.Pack(trits, 2, k);
        foreach (sbyte v in new sbyte[] { 127, -127 })
        {
            var x = Int8Vector.FromQuantized(Enumerable.Repeat(v, k).ToArray(), 1f);
            foreach (var isa in Reference.Paths())
            {
                var dots = new int[2];
                TwoBitGemv.Dot(packed, 2, k, x, dots, new GemvOptions(1, isa));
                Assert.Equal(new[] { v * k, -v * k }, dots);
            }
        }
    }

    [Fact]
    public void MultiplyScalesPerTensorAndPerChannel()
    {
        const int rows = 29, k = 900;
        var rnd = new Random(13);
        var trits = Reference.RandomTrits(rnd, rows * k);
        var packed = TwoBitGemv.Pack(trits, rows, k);
        var xf = Reference.RandomFloats(rnd, k, 5f);
        var x = Int8Vector.Quantize(xf);
        var dots = Reference.Dots(trits, rows, k, x.Values);
        float[][] scaleSets = [[1.25f], Reference.RandomFloats(rnd, rows)];
        foreach (var scales in scaleSets)
            foreach (var isa in Reference.Paths())
                foreach (int threads in new[] { 1, 2 })
                {
                    var y = new float[rows];
                    TwoBitGemv.Multiply(packed, rows, k, scales, xf, y, new GemvOptions(threads, isa));
                    Reference.Close(Reference.Scaled(dots, scales, x.Scale), y, 1e-6);
                }
    }

    [Fact]
    public void BadArgumentsAreRefused()
    {
        var packed = new byte[3 * 64];
        var x = Int8Vector.FromQuantized(new sbyte[10], 1f);
        Assert.Throws<ArgumentException>(() => TwoBitGemv.Dot(packed, 2, 10, x, new int[2]));
        Assert.Throws<ArgumentException>(() => TwoBitGemv.Dot(packed, 3, 11, x, new int[3]));
        Assert.Throws<ArgumentException>(() => TwoBitGemv.Multiply(packed, 3, 10, new float[2], x, new float[3]));
    }
}

public class Float32GemvTests
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 7)]
    [InlineData(17, 33)]
    [InlineData(9, 1001)]
    [InlineData(40, 2560)]
    [InlineData(21, 6912)]
    public void MatchesADoubleReferenceOnEveryPathAndThreadCount(int rows, int k)
    {
        var rnd = new Random(rows + 1000 * k);
        // The weights of a ternary layer as float32: trit times a per-channel scale.
        var trits = Reference.RandomTrits(rnd, rows * k);
        var scales = Reference.RandomFloats(rnd, rows, 0.1f);
        var w = new float[rows * k];
        for (int i = 0; i < w.Length; i++) w[i] = trits[i] * scales[i / k];
        var x = Reference.RandomFloats(rnd, k, 4f);
        var expected = new double[rows];
        var magnitude = new double[rows];
        for (int m = 0; m < rows; m++)
            for (int e = 0; e < k; e++)
            {
                expected[m] += (double)w[m * k + e] * x[e];
                magnitude[m] += Math.Abs((double)w[m * k + e] * x[e]);
            }
        foreach (var isa in Reference.Paths())
            foreach (int threads in new[] { 1, 2 })
            {
                var y = new float[rows];
                Float32Gemv.Multiply(w, rows, k, x, y, new GemvOptions(threads, isa));
                // float32 summation error grows with sum |w x|, not with the (possibly cancelled) result.
                for (int m = 0; m < rows; m++)
                    Assert.True(Math.Abs(y[m] - expected[m]) <= 1e-5 * magnitude[m] + 1e-30,
                        $"row {m}: expected {expected[m]:R}, got {y[m]:R}");
            }
    }

    [Fact]
    public void BadArgumentsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => Float32Gemv.Multiply(new float[10], 2, 4, new float[4], new float[2]));
        Assert.Throws<ArgumentException>(() => Float32Gemv.Multiply(new float[8], 2, 4, new float[3], new float[2]));
        Assert.Throws<ArgumentException>(() => Float32Gemv.Multiply(new float[8], 2, 4, new float[4], new float[1]));
    }
}
