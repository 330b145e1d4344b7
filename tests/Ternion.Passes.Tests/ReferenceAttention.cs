namespace Ternion.Passes.Tests;

/// <summary>
/// Attention with FlexAttention's modifiers, written as the plain loops of its definition and
/// computed in double: the independent reference for models built in the tests.
/// </summary>
public static class ReferenceAttention
{
    public delegate double Modifier(double value, int b, int h, int q, int k);
    public delegate bool Mask(int b, int h, int q, int k);

    public sealed record Problem(int B, int Hq, int Hkv, int L, int S, int E, int Ev)
    {
        public int QCount => B * Hq * L * E;
        public int KCount => B * Hkv * S * E;
        public int VCount => B * Hkv * S * Ev;
    }

    /// <param name="scale">null for the default 1/sqrt(E).</param>
    public static double[] Compute(Problem p, double[] q, double[] k, double[] v, double? scale = null,
        Modifier? scoreMod = null, Mask? mask = null, Modifier? probMod = null, double maskValue = double.NegativeInfinity)
    {
        // The definition takes sqrt(scale) in float32 (the default scale 1/sqrt(E) too) and applies
        // it to Q and K; in double that is a product with root * root, not with the scale itself.
        double root = MathF.Sqrt(scale is double given ? (float)given : 1f / MathF.Sqrt(p.E));
        double sc = root * root;
        int group = p.Hq / p.Hkv;
        var y = new double[p.B * p.Hq * p.L * p.Ev];
        var row = new double[p.S];
        for (int b = 0; b < p.B; b++)
        for (int h = 0; h < p.Hq; h++)
        {
            int kvh = h / group;
            for (int i = 0; i < p.L; i++)
            {
                double max = double.NegativeInfinity;
                for (int j = 0; j < p.S; j++)
                {
                    double dot = 0;
                    for (int e = 0; e < p.E; e++)
                        dot += q[((b * p.Hq + h) * p.L + i) * p.E + e] * k[((b * p.Hkv + kvh) * p.S + j) * p.E + e];
                    double s = dot * sc;
                    if (scoreMod is not null) s = scoreMod(s, b, h, i, j);
                    if (mask is not null && !mask(b, h, i, j)) s = maskValue;
                    row[j] = s;
                    max = Math.Max(max, s);
                }
                double sum = 0;
                for (int j = 0; j < p.S; j++) { row[j] = Math.Exp(row[j] - max); sum += row[j]; }
                for (int j = 0; j < p.S; j++)
                {
                    row[j] /= sum;
                    if (probMod is not null) row[j] = probMod(row[j], b, h, i, j);
                }
                for (int e = 0; e < p.Ev; e++)
                {
                    double acc = 0;
                    for (int j = 0; j < p.S; j++) acc += row[j] * v[((b * p.Hkv + kvh) * p.S + j) * p.Ev + e];
                    y[((b * p.Hq + h) * p.L + i) * p.Ev + e] = acc;
                }
            }
        }
        return y;
    }

    /// <summary>Deterministic values in [-range, range).</summary>
    public static double[] Random(int count, int seed, double range = 1.0)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => (rng.NextDouble() * 2 - 1) * range).ToArray();
    }
}
