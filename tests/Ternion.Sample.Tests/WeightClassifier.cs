namespace Ternion.Sample.Tests;

public enum WeightClass { PerTensorTernary, PerChannelTernary, TernaryButOne, Dense }

/// <summary>What the values of a 2-D [K, N] float tensor are, worked out from the values alone.</summary>
public sealed record WeightProfile(WeightClass Class, int DistinctScales, double ZeroFraction, bool BothSigns, float Scale, long OddIndex, float OddValue);

/// <summary>
/// Classifies a [K, N] MatMul B operand by its values only (names are not trusted): ternary with one
/// magnitude for the tensor, ternary with one magnitude per column n, ternary with one magnitude
/// except for exactly one element, or dense. Written independently of the generator, so a generator
/// bug that breaks the intended structure is caught here.
/// </summary>
public static class WeightClassifier
{
    public static WeightProfile Classify(float[] values, int rows, int cols)
    {
        if (values.Length != rows * cols) throw new ArgumentException("values do not match the shape");
        double zeros = values.Count(v => v == 0) / (double)values.Length;
        bool bothSigns = values.Any(v => v > 0) && values.Any(v => v < 0);
        var magnitudes = values.Where(v => v != 0).GroupBy(MathF.Abs).OrderByDescending(g => g.Count()).ToList();

        if (magnitudes.Count == 1)
            return new(WeightClass.PerTensorTernary, 1, zeros, bothSigns, magnitudes[0].Key, -1, 0);

        // Exactly one element off the single magnitude everything else shares.
        if (magnitudes.Count == 2 && magnitudes[1].Count() == 1)
        {
            float odd = values.First(v => MathF.Abs(v) == magnitudes[1].Key);
            long at = Array.IndexOf(values, odd);
            return new(WeightClass.TernaryButOne, 1, zeros, bothSigns, magnitudes[0].Key, at, odd);
        }

        var columnScales = new HashSet<float>();
        for (int n = 0; n < cols; n++)
        {
            var col = new HashSet<float>();
            for (int k = 0; k < rows; k++) { float v = values[k * cols + n]; if (v != 0) col.Add(MathF.Abs(v)); }
            if (col.Count > 1) return new(WeightClass.Dense, magnitudes.Count, zeros, bothSigns, 0, -1, 0);
            columnScales.UnionWith(col);
        }
        return new(WeightClass.PerChannelTernary, columnScales.Count, zeros, bothSigns, 0, -1, 0);
    }
}
