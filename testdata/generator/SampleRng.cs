namespace Ternion.SampleGen;

/// <summary>
/// SplitMix64 with integer-only state updates and no transcendental functions. System.Random's
/// algorithms and Math.Log/Cos (Box-Muller) are not promised to give the same bits on every
/// runtime and platform; the committed sample must regenerate byte for byte, so everything the
/// weights depend on is plain IEEE arithmetic.
/// </summary>
public sealed class SampleRng(ulong seed)
{
    private ulong _state = seed;

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [lo, hi).</summary>
    public double Uniform(double lo, double hi) => lo + (hi - lo) * NextDouble();

    /// <summary>Uniform integer in [0, n) (n is tiny here, so the modulo bias is negligible and irrelevant).</summary>
    public int NextInt(int n) => (int)(NextUInt64() % (ulong)n);

    /// <summary>
    /// Approximately standard normal: the Irwin-Hall sum of twelve uniforms minus six (mean 0,
    /// variance 1, tails cut at +-6). Close enough to a Gaussian for BitNet's absmean rounding to
    /// give its usual ~31% zeros, and free of libm.
    /// </summary>
    public double NextGaussian()
    {
        double s = 0;
        for (int i = 0; i < 12; i++) s += NextDouble();
        return s - 6.0;
    }
}
