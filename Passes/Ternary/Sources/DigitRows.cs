namespace Ternion.Passes.Ternary.Sources;

/// <summary>
/// TTF1 rows straight from base-3 digits (d = trit + 1), for sources that read codes which already
/// are digits or map to them by a table (packed 2-bit weights, MatMulNBits codes): no float weight,
/// no trit array. Byte j of a row is d[5j] + 3 d[5j+1] + 9 d[5j+2] + 27 d[5j+3] + 81 d[5j+4]; digits
/// past K are 1 (zero trits), so padding bytes are 0x79 (spec section 3).
/// </summary>
internal static class DigitRows
{
    private const byte ZeroTrits = 0x79;

    /// <summary>Packs one row of K digits into <paramref name="row"/> (RowBytes long, padding included).</summary>
    public static void Pack(ReadOnlySpan<byte> digits, Span<byte> row)
    {
        int k = digits.Length, full = k / 5, j = 0;
        for (; j < full; j++)
        {
            var d = digits.Slice(j * 5, 5);
            row[j] = (byte)(d[0] + 3 * d[1] + 9 * d[2] + 27 * d[3] + 81 * d[4]);
        }
        if (j * 5 < k)
        {
            int b = 0, m = 1;
            for (int e = 0; e < 5; e++, m *= 3) b += (j * 5 + e < k ? digits[j * 5 + e] : 1) * m;
            row[j++] = (byte)b;
        }
        row[j..].Fill(ZeroTrits);
    }
}
