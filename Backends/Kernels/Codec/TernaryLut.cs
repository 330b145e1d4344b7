namespace Ternion.IR.Ternary;

/// <summary>
/// The TTF1 constants: the standard 256 x 5 int8 lookup table (spec section 2) and the metadata
/// keys a model carries once it holds packed tensors (spec section 6).
/// </summary>
public static class TernaryLut
{
    /// <summary>metadata_props key naming the ternary storage format.</summary>
    public const string FormatKey = "ternion.format";
    /// <summary>Value of <see cref="FormatKey"/> for this version of the format.</summary>
    public const string FormatName = "TTF1";
    /// <summary>metadata_props key carrying the SHA-256 of <see cref="Table"/>.</summary>
    public const string Sha256Key = "ternion.lut_sha256";
    /// <summary>SHA-256 of the 1280 bytes of <see cref="Table"/>, lower-case hex, as the spec states it.</summary>
    public const string Sha256Hex = "64cb0b7049af10b0402fc25f5ae0c0324ed52aa53b2aa17dcd5a7f0691504f06";

    public const int TritsPerByte = 5;
    /// <summary>3^5: bytes from here to 255 are reserved and never written by an encoder.</summary>
    public const int FirstReservedByte = 243;
    /// <summary>The byte of five zero trits, and so of every whole padding byte.</summary>
    public const byte ZeroByte = 0x79;

    // Built from the defining formula rather than typed in, so the SHA-256 test checks the formula
    // against the spec's digest instead of comparing a literal with itself.
    private static readonly sbyte[] s_table = Build();

    /// <summary>LUT[b][i] = ((b / 3^i) mod 3) - 1 for b &lt; 243, zeros for reserved bytes; 1280 entries, row-major.</summary>
    public static ReadOnlySpan<sbyte> Table => s_table;

    /// <summary>The five trits of byte <paramref name="b"/>, lowest-index element first.</summary>
    public static ReadOnlySpan<sbyte> Row(byte b) => s_table.AsSpan(b * TritsPerByte, TritsPerByte);

    private static sbyte[] Build()
    {
        var t = new sbyte[256 * TritsPerByte];
        for (int b = 0; b < FirstReservedByte; b++)
        {
            int rest = b;
            for (int i = 0; i < TritsPerByte; i++, rest /= 3)
                t[b * TritsPerByte + i] = (sbyte)(rest % 3 - 1);
        }
        return t;
    }
}
