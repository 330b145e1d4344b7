namespace Ternion.Backends.Kernels;

/// <summary>
/// One token's activations quantized to int8 the way BitNet b1.58 does it (absmax, per token):
/// <c>q[k] = round(x[k] * (127 / max|x|))</c>, rounding half to even like torch.round, so every
/// value is in [-127, 127]. <see cref="Scale"/> = max|x| / 127 turns integer dot products back
/// into floats: <c>y = Scale * sum_k w[k] * q[k]</c>.
/// </summary>
public sealed class Int8Vector
{
    private readonly sbyte[] _values;

    private Int8Vector(sbyte[] values, float scale, int sum)
    {
        _values = values;
        Scale = scale;
        Sum = sum;
    }

    /// <summary>The quantized values, in the order of the input.</summary>
    public ReadOnlySpan<sbyte> Values => _values;
    public int Length => _values.Length;
    /// <summary>max|x| / 127; 0 for an all-zero input (every value is then 0).</summary>
    public float Scale { get; }
    /// <summary>Sum of <see cref="Values"/>: kernels that multiply by digits d = t + 1 subtract it once per row.</summary>
    public int Sum { get; }

    /// <summary>Quantizes <paramref name="x"/>; throws if any value is NaN or infinite (max|x| would be meaningless).</summary>
    public static Int8Vector Quantize(ReadOnlySpan<float> x)
    {
        float max = 0;
        foreach (float v in x)
        {
            if (!float.IsFinite(v)) throw new ArgumentException("activations must be finite", nameof(x));
            max = Math.Max(max, Math.Abs(v));
        }
        var q = new sbyte[x.Length];
        if (max == 0) return new Int8Vector(q, 0, 0);
        // BitNet multiplies by 127 / max rather than dividing by max / 127; the two can round differently.
        float inv = 127f / max;
        int sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            // |x| * inv <= 127 up to one rounding, so the clamp only guards that last ulp.
            int v = Math.Clamp((int)MathF.Round(x[i] * inv, MidpointRounding.ToEven), -127, 127);
            q[i] = (sbyte)v;
            sum += v;
        }
        return new Int8Vector(q, max / 127f, sum);
    }

    /// <summary>
    /// Wraps values that are already quantized (for tests and for callers with their own quantizer).
    /// Values must be in [-127, 127]: the kernels' 16-bit partial sums are sized for that range.
    /// </summary>
    public static Int8Vector FromQuantized(ReadOnlySpan<sbyte> values, float scale)
    {
        if (!float.IsFinite(scale)) throw new ArgumentException("scale must be finite", nameof(scale));
        int sum = 0;
        foreach (sbyte v in values)
        {
            if (v == sbyte.MinValue) throw new ArgumentException("quantized values must be in [-127, 127]", nameof(values));
            sum += v;
        }
        return new Int8Vector(values.ToArray(), scale, sum);
    }
}
