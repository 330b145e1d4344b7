using Ternion.Backends.Kernels;

namespace Ternion.Kernels.Tests;

public class Int8VectorTests
{
    [Fact]
    public void QuantizesByAbsMaxTo127WithHalfToEvenRounding()
    {
        // max|x| = 127/64, so the factor is exactly 64 and x * 64 lands on halves: 0.5, 1.5, -2.5.
        float[] x = [127f / 64, -127f / 64, 1f / 128, 3f / 128, -5f / 128, 1.0f, 0];
        var q = Int8Vector.Quantize(x);
        Assert.Equal(new sbyte[] { 127, -127, 0, 2, -2, 64, 0 }, q.Values.ToArray());
        Assert.Equal(1f / 64, q.Scale);
        Assert.Equal(64, q.Sum);
    }

    [Fact]
    public void AllZeroInputGivesZerosAndScaleZero()
    {
        var q = Int8Vector.Quantize(new float[5]);
        Assert.All(q.Values.ToArray(), v => Assert.Equal(0, v));
        Assert.Equal(0f, q.Scale);
        Assert.Equal(0, q.Sum);
    }

    [Fact]
    public void EveryValueStaysWithinPlusMinus127AndMatchesTheFormula()
    {
        var rnd = new Random(7);
        var x = Reference.RandomFloats(rnd, 4000, 37f);
        var q = Int8Vector.Quantize(x);
        float max = x.Max(Math.Abs), inv = 127f / max;
        for (int i = 0; i < x.Length; i++)
            Assert.Equal((sbyte)MathF.Round(x[i] * inv, MidpointRounding.ToEven), q.Values[i]);
        Assert.Equal(q.Values.ToArray().Sum(v => (int)v), q.Sum);
        Assert.Contains(q.Values.ToArray(), v => Math.Abs((int)v) == 127);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void NonFiniteActivationsAreRefused(float bad) =>
        Assert.Throws<ArgumentException>(() => Int8Vector.Quantize([1f, bad]));

    [Fact]
    public void FromQuantizedRefusesMinus128()
    {
        Assert.Throws<ArgumentException>(() => Int8Vector.FromQuantized([1, sbyte.MinValue], 1f));
        var q = Int8Vector.FromQuantized([3, -127, 127], 0.5f);
        Assert.Equal(3, q.Sum);
        Assert.Equal(0.5f, q.Scale);
    }
}
