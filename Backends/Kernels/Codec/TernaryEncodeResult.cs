using System.Globalization;

namespace Ternion.IR.Ternary;

public enum TernaryEncodeFailure
{
    None = 0,
    /// <summary>An element is not +scale, -scale or ±0 (or, for trit input, not -1, 0 or +1).</summary>
    NotTernary,
    /// <summary>A scale is infinite or NaN: 0 * scale would not give back the zeros (and no value can equal NaN).</summary>
    ScaleNotFinite,
}

/// <summary>
/// Outcome of an encode. A failure is an ordinary answer, not an exception: detection passes encode
/// every candidate weight and most are not ternary. It names the first offending element in the
/// logical (row-major) order of the source, whatever thread or kernel noticed it first.
/// </summary>
public readonly record struct TernaryEncodeResult
{
    public static TernaryEncodeResult Success => default;

    public TernaryEncodeFailure Failure { get; init; }
    /// <summary>Flat row-major index into the logical shape of the offending element; -1 for a scale failure.</summary>
    public long ElementIndex { get; init; }
    /// <summary>The channel (row of the packed tensor) the element or scale belongs to.</summary>
    public long Channel { get; init; }
    /// <summary>The offending element, converted exactly to double (NaN for scale failures).</summary>
    public double Value { get; init; }
    /// <summary>The scale the element was compared with.</summary>
    public double Scale { get; init; }

    public bool Succeeded => Failure == TernaryEncodeFailure.None;

    /// <summary>One line naming the tensor, the element (flat and multi-dimensional index) and why.</summary>
    public string Describe(string? tensorName, TernaryLayout layout)
    {
        string who = string.IsNullOrEmpty(tensorName) ? "tensor" : $"tensor '{tensorName}'";
        var ci = CultureInfo.InvariantCulture;
        return Failure switch
        {
            TernaryEncodeFailure.None => $"{who}: ternary",
            TernaryEncodeFailure.ScaleNotFinite =>
                $"{who}: scale of channel {Channel} is {Scale.ToString("R", ci)}, not finite",
            _ => $"{who}: element {ElementIndex} {Index(layout)} is {Value.ToString("R", ci)}, not 0 or ±{Scale.ToString("R", ci)} (channel {Channel})",
        };
    }

    /// <summary>Throws <see cref="TernionException"/> with <see cref="Describe"/> unless the encode succeeded.</summary>
    public void ThrowIfFailed(string? tensorName, TernaryLayout layout)
    {
        if (!Succeeded) throw new TernionException(Describe(tensorName, layout));
    }

    private string Index(TernaryLayout layout)
    {
        if (layout.Shape is null || ElementIndex < 0) return "";
        var idx = new long[layout.Shape.Length];
        long rest = ElementIndex;
        for (int d = idx.Length - 1; d >= 0; d--)
        {
            long n = layout.Shape[d];
            if (n == 0) return "";
            idx[d] = rest % n;
            rest /= n;
        }
        return "[" + string.Join(",", idx) + "]";
    }
}
