using Ternion.IR;

namespace Ternion.Backends.Verification;

/// <summary>How one output compared: worst absolute and relative differences and whether it is within tolerance.</summary>
public sealed record OutputComparison(string Name, bool Ok, double MaxAbsDiff, double MaxRelDiff, long Mismatches, long Elements, string? Problem)
{
    public override string ToString() =>
        $"{Name}: {(Ok ? "ok" : "DIFFERS")}  max abs {MaxAbsDiff:G4}  max rel {MaxRelDiff:G4}" +
        (Mismatches > 0 ? $"  ({Mismatches:N0} of {Elements:N0} elements outside tolerance)" : "") +
        (Problem is null ? "" : $"  [{Problem}]");
}

/// <summary>
/// Element-wise closeness as numpy's allclose: |a - e| &lt;= atol + rtol * |e|, with NaN equal to NaN and
/// infinities equal only to themselves. Integers, booleans and strings must match exactly.
/// </summary>
public static class Comparison
{
    public static OutputComparison Compare(string name, RunValue expected, RunValue actual, double rtol, double atol)
    {
        if (expected.Kind != actual.Kind)
            return Fail(name, $"kind {expected.Kind} vs {actual.Kind}");
        switch (expected.Kind)
        {
            case RunValueKind.Sequence:
            case RunValueKind.Optional:
            case RunValueKind.Map:
            {
                if (expected.Elements.Count != actual.Elements.Count)
                    return Fail(name, $"{expected.Elements.Count} vs {actual.Elements.Count} elements");
                double maxAbs = 0, maxRel = 0; long bad = 0, n = 0;
                for (int i = 0; i < expected.Elements.Count; i++)
                {
                    var c = Compare($"{name}[{i}]", expected.Elements[i], actual.Elements[i], rtol, atol);
                    if (c.Problem is not null) return c with { Name = name };
                    maxAbs = Math.Max(maxAbs, c.MaxAbsDiff); maxRel = Math.Max(maxRel, c.MaxRelDiff); bad += c.Mismatches; n += c.Elements;
                }
                return new OutputComparison(name, bad == 0, maxAbs, maxRel, bad, n, null);
            }
        }
        if (expected.ElemType != actual.ElemType)
            return Fail(name, $"type {DataTypes.ShortName(expected.ElemType)} vs {DataTypes.ShortName(actual.ElemType)}");
        if (!expected.Dims.SequenceEqual(actual.Dims))
            return Fail(name, $"shape [{string.Join(",", expected.Dims)}] vs [{string.Join(",", actual.Dims)}]");
        long count = expected.ElementCount;
        if (expected.ElemType == DataType.String)
        {
            long diff = expected.Strings!.Zip(actual.Strings!).Count(p => p.First != p.Second);
            return new OutputComparison(name, diff == 0, diff > 0 ? double.PositiveInfinity : 0, 0, diff, count, null);
        }
        bool floating = DataTypes.IsFloatingPoint(expected.ElemType);
        if (!floating && expected.ElemType is not (DataType.Int8 or DataType.UInt8 or DataType.Int16 or DataType.UInt16 or DataType.Int32
                or DataType.UInt32 or DataType.Int64 or DataType.UInt64 or DataType.Bool))
        {
            // Other types (float8, int4, complex ...): compare bytes.
            bool same = expected.Bytes.AsSpan().SequenceEqual(actual.Bytes);
            return new OutputComparison(name, same, same ? 0 : double.PositiveInfinity, 0, same ? 0 : 1, count, null);
        }
        double worstAbs = 0, worstRel = 0; long mismatches = 0;
        for (long i = 0; i < count; i++)
        {
            double e = expected.GetDouble(i), a = actual.GetDouble(i);
            if (double.IsNaN(e) || double.IsNaN(a))
            {
                if (double.IsNaN(e) != double.IsNaN(a)) { mismatches++; worstAbs = double.PositiveInfinity; }
                continue;
            }
            if (double.IsInfinity(e) || double.IsInfinity(a))
            {
                if (e != a) { mismatches++; worstAbs = double.PositiveInfinity; }
                continue;
            }
            double d = Math.Abs(a - e);
            worstAbs = Math.Max(worstAbs, d);
            if (e != 0) worstRel = Math.Max(worstRel, d / Math.Abs(e));
            else if (d > 0) worstRel = double.PositiveInfinity;
            bool ok = floating ? d <= atol + rtol * Math.Abs(e) : d == 0;
            if (!ok) mismatches++;
        }
        return new OutputComparison(name, mismatches == 0, worstAbs, worstRel, mismatches, count, null);
    }

    /// <summary>True when the two values are identical bit for bit (the folded target's promise).</summary>
    public static bool BitIdentical(RunValue a, RunValue b) =>
        a.Kind == b.Kind && a.ElemType == b.ElemType && a.Dims.SequenceEqual(b.Dims) && a.Bytes.AsSpan().SequenceEqual(b.Bytes)
        && (a.Strings is null ? b.Strings is null : b.Strings is not null && a.Strings.SequenceEqual(b.Strings))
        && a.Elements.Count == b.Elements.Count && a.Elements.Zip(b.Elements).All(p => BitIdentical(p.First, p.Second));

    private static OutputComparison Fail(string name, string problem) => new(name, false, double.PositiveInfinity, double.PositiveInfinity, 1, 0, problem);
}
