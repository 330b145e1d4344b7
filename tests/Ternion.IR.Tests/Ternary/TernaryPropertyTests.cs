using System.Numerics;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using Ternion.IR.Ternary;

namespace Ternion.IR.Tests.Ternary;

/// <summary>A layout and a data seed; the data itself is made from the seed so FsCheck's shrinking stays cheap.</summary>
public sealed record LayoutCase(long[] Shape, int Axis, int BlockSize, bool PerChannel, int Seed)
{
    public TernaryLayout Layout => new(Shape, Axis, BlockSize);
    public override string ToString() => $"[{string.Join(",", Shape)}] axis {Axis} block {BlockSize} {(PerChannel ? "per-channel" : "per-tensor")} seed {Seed}";
}

public static class TernaryArbitraries
{
    /// <summary>
    /// Ranks 1-3, any axis. The packed axis ranges over tiny lengths, lengths around one and two
    /// blocks (where padding and the vector tails meet) and longer ones; the other dims stay small
    /// but reach past the 16-channel tile of the strided path.
    /// </summary>
    public static Arbitrary<LayoutCase> LayoutCases()
    {
        var k = Gen.OneOf(
            Gen.Choose(0, 12),
            Gen.Choose(1, 200),
            Gen.Elements(159, 160, 161, 319, 320, 321, 639, 640, 641, 959, 1280).SelectMany(b => Gen.Choose(-2, 2).Select(d => b + d)),
            Gen.Choose(200, 2000));
        var other = Gen.Frequency((6, Gen.Choose(1, 5)), (2, Gen.Choose(6, 40)), (1, Gen.Constant(0)));
        var gen =
            from rank in Gen.Choose(1, 3)
            from axis in Gen.Choose(0, rank - 1)
            from kLen in k
            from dims in Gen.ArrayOf(other, rank)
            from bs in Gen.Elements(320, 640)
            from perChannel in Gen.Elements(false, true)
            from seed in Gen.Choose(0, int.MaxValue)
            let shape = dims.Select((d, i) => i == axis ? (long)kLen : d).ToArray()
            where shape.Aggregate(1L, (a, b) => a * b) <= 40_000
            select new LayoutCase(shape, axis, bs, perChannel, seed);
        return gen.ToArbitrary();
    }
}

/// <summary>
/// Properties over random layouts and data: every kernel and thread configuration packs exactly the
/// spec's bytes and decodes back to the original bits; failures and reserved bytes are reported at
/// the first offending element or byte.
/// </summary>
[Properties(Arbitrary = [typeof(TernaryArbitraries)], MaxTest = 60)]
public class TernaryPropertyTests
{
    [Property]
    public void Float32RoundTrips(LayoutCase c) => RoundTrip<uint>(ElementType.Float32, c);

    [Property]
    public void Float16RoundTrips(LayoutCase c) => RoundTrip<ushort>(ElementType.Float16, c);

    [Property]
    public void BFloat16RoundTrips(LayoutCase c) => RoundTrip<ushort>(ElementType.BFloat16, c);

    [Property]
    public void Float64RoundTrips(LayoutCase c) => RoundTrip<ulong>(ElementType.Float64, c);

    [Property]
    public void TritsRoundTrip(LayoutCase c) => RoundTrip<byte>(ElementType.Trit, c with { PerChannel = false });

    private static void RoundTrip<T>(ElementType type, LayoutCase c) where T : unmanaged, IBinaryInteger<T> =>
        CodecHarness.CheckRoundTrip(type, TernaryTestData.Make<T>(type, c.Layout, c.PerChannel, new Random(c.Seed)));

    [Property]
    public void TableDecoderMatchesStrictDecoderOnValidData(LayoutCase c)
    {
        var data = TernaryTestData.Make<uint>(ElementType.Float32, c.Layout, c.PerChannel, new Random(c.Seed));
        var L = c.Layout;
        var packed = TernaryTestData.ReferencePack(TernaryTestData.TritsOf(data), L.Shape, L.Axis, L.BlockSize);
        var scales = data.Scales.Select(BitConverter.UInt32BitsToSingle).ToArray();
        var strict = new float[L.ElementCount];
        var table = new float[L.ElementCount];
        TernaryCodec.Decode(packed, L, scales, strict);
        TernaryCodec.DecodeWithLut(packed, L, scales, table);
        // Equal as numbers: the table decoder's zeros carry the scale's sign (0 * -s = -0).
        for (int i = 0; i < strict.Length; i++)
            Assert.True(strict[i] == table[i], $"element {i}: strict {strict[i]}, table {table[i]}");
    }

    [Property]
    public void FirstNonTernaryElementIsReported(LayoutCase c)
    {
        var L = c.Layout;
        if (L.ElementCount == 0) return;
        var rng = new Random(c.Seed);
        var type = (ElementType)rng.Next(4);
        switch (type)
        {
            case ElementType.Float32: Check<uint>(type, L, c.PerChannel, rng, [0x7FC0_0000u, 0x7F80_0000u, 0xFF80_0000u, 0x3F00_0000u]); break;
            case ElementType.Float64: Check<ulong>(type, L, c.PerChannel, rng, [0x7FF8_0000_0000_0000UL, 0xFFF0_0000_0000_0000UL, 0x3FE0_0000_0000_0000UL]); break;
            case ElementType.Float16: Check<ushort>(type, L, c.PerChannel, rng, [0x7E00, 0x7C00, 0xFC00, 0x3800]); break;
            default: Check<ushort>(type, L, c.PerChannel, rng, [0x7FC0, 0x7F80, 0xFF80, 0x3F00]); break;
        }

        static void Check<T>(ElementType type, TernaryLayout L, bool perChannel, Random rng, T[] specials) where T : unmanaged, IBinaryInteger<T>
        {
            var data = TernaryTestData.Make<T>(type, L, perChannel, rng);
            long K = L.K, inner = L.Inner;
            long Channel(long e) => e / (K * inner) * inner + e % inner;
            long first = long.MaxValue;
            int bad = 1 + rng.Next(3);
            for (int j = 0; j < bad; j++)
            {
                long e = rng.NextInt64(data.Values.Length);
                T s = data.Scales[perChannel ? Channel(e) : 0];
                // NaN, infinities, a nearby value (one ulp off the scale, or half of it), or random bits.
                T candidate = rng.Next(4) switch
                {
                    0 => specials[rng.Next(specials.Length)],
                    1 => s ^ T.One,
                    2 => s ^ T.CreateTruncating(2),
                    _ => T.CreateTruncating(rng.NextInt64()),
                };
                bool allowed = (candidate & data.ZeroMask) == T.Zero || (candidate == s) ||
                               ((s & data.ZeroMask) != T.Zero && candidate == (s ^ data.SignMask));
                if (allowed) continue;
                data.Values[e] = candidate;
                first = Math.Min(first, e);
            }
            if (first == long.MaxValue) return;
            foreach (var (name, o) in Configs.All())
            {
                var r = CodecHarness.Encode(type, data.Values, L, data.Scales, new byte[L.PackedBytes], o);
                Assert.False(r.Succeeded, name);
                Assert.Equal(TernaryEncodeFailure.NotTernary, r.Failure);
                Assert.Equal(first, r.ElementIndex);
                Assert.Equal(Channel(first), r.Channel);
            }
        }
    }

    [Property]
    public void FirstReservedByteIsReported(LayoutCase c)
    {
        var L = c.Layout;
        if (L.PackedBytes == 0) return;
        var rng = new Random(c.Seed);
        var data = TernaryTestData.Make<uint>(ElementType.Float32, L, c.PerChannel, rng);
        var packed = TernaryTestData.ReferencePack(TernaryTestData.TritsOf(data), L.Shape, L.Axis, L.BlockSize);
        long first = long.MaxValue;
        for (int j = 1 + rng.Next(3); j > 0; j--)
        {
            long at = rng.NextInt64(packed.Length);
            packed[at] = (byte)rng.Next(243, 256);
            first = Math.Min(first, at);
        }
        foreach (var (name, o) in Configs.All())
        {
            var e = Assert.Throws<TernionException>(() =>
                CodecHarness.Decode(ElementType.Float32, packed, L, data.Scales, new uint[L.ElementCount], "t", o));
            Assert.Contains($"offset {first} ", e.Message);
        }
        // The table decoder reads reserved bytes as zero trits and never throws.
        var lutOut = new sbyte[L.ElementCount];
        TernaryCodec.DecodeWithLut(packed, L, lutOut);
    }
}
