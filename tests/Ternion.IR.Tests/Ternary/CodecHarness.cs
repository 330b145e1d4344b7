using System.Numerics;
using System.Runtime.InteropServices;
using Ternion.IR.Ternary;

namespace Ternion.IR.Tests.Ternary;

/// <summary>Routes raw-bit test data to the codec's internal entry points for each element type.</summary>
internal static class CodecHarness
{
    public static TernaryEncodeResult Encode<T>(ElementType type, T[] values, TernaryLayout L, T[] scales, Span<byte> packed, CodecOptions o)
        where T : unmanaged, IBinaryInteger<T> => type switch
    {
        ElementType.Float32 => TernaryCodec.Encode<Float32Kind, uint>(As<T, uint>(values), L, As<T, uint>(scales), packed, o),
        ElementType.Float16 => TernaryCodec.Encode<Float16Kind, ushort>(As<T, ushort>(values), L, As<T, ushort>(scales), packed, o),
        ElementType.BFloat16 => TernaryCodec.Encode<BFloat16Kind, ushort>(As<T, ushort>(values), L, As<T, ushort>(scales), packed, o),
        ElementType.Float64 => TernaryCodec.Encode<Float64Kind, ulong>(As<T, ulong>(values), L, As<T, ulong>(scales), packed, o),
        _ => TernaryCodec.Encode<TritKind, byte>(As<T, byte>(values), L, As<T, byte>(scales), packed, o),
    };

    public static void Decode<T>(ElementType type, byte[] packed, TernaryLayout L, T[] scales, Span<T> values, string? name, CodecOptions o)
        where T : unmanaged, IBinaryInteger<T>
    {
        switch (type)
        {
            case ElementType.Float32: TernaryCodec.Decode<Float32Kind, uint>(packed, L, As<T, uint>(scales), MemoryMarshal.Cast<T, uint>(values), name, o); break;
            case ElementType.Float16: TernaryCodec.Decode<Float16Kind, ushort>(packed, L, As<T, ushort>(scales), MemoryMarshal.Cast<T, ushort>(values), name, o); break;
            case ElementType.BFloat16: TernaryCodec.Decode<BFloat16Kind, ushort>(packed, L, As<T, ushort>(scales), MemoryMarshal.Cast<T, ushort>(values), name, o); break;
            case ElementType.Float64: TernaryCodec.Decode<Float64Kind, ulong>(packed, L, As<T, ulong>(scales), MemoryMarshal.Cast<T, ulong>(values), name, o); break;
            default: TernaryCodec.Decode<TritKind, byte>(packed, L, As<T, byte>(scales), MemoryMarshal.Cast<T, byte>(values), name, o); break;
        }
    }

    private static ReadOnlySpan<TTo> As<TFrom, TTo>(TFrom[] a) where TFrom : struct where TTo : struct =>
        MemoryMarshal.Cast<TFrom, TTo>(a.AsSpan());

    /// <summary>
    /// Encodes and decodes under every kernel/thread configuration and checks each result against
    /// the spec-derived reference: the packed bytes exactly, the decoded values bit for bit (-0 as +0),
    /// and that nothing outside the destinations was touched.
    /// </summary>
    public static void CheckRoundTrip<T>(ElementType type, TernaryCase<T> c) where T : unmanaged, IBinaryInteger<T>
    {
        var L = c.Layout;
        var expectedPacked = TernaryTestData.ReferencePack(TernaryTestData.TritsOf(c), L.Shape, L.Axis, L.BlockSize);
        var expectedValues = TernaryTestData.Canonical(c);
        Assert.Equal(L.PackedBytes, expectedPacked.LongLength);
        const int Guard = 67;
        foreach (var (name, o) in Configs.All())
        {
            // 0xFF is reserved, so a byte the encoder forgot to write cannot match the reference by luck.
            var packed = Enumerable.Repeat((byte)0xFF, expectedPacked.Length + Guard).ToArray();
            var r = Encode(type, c.Values, L, c.Scales, packed, o);
            Assert.True(r.Succeeded, $"{name}: {r.Describe("w", L)}");
            AssertBytes(expectedPacked, packed.AsSpan(0, expectedPacked.Length), $"{name}: packed bytes of {L}");
            Assert.True(packed.AsSpan(expectedPacked.Length).IndexOfAnyExcept((byte)0xFF) < 0, $"{name}: encoder wrote past the packed tensor");

            var poison = T.AllBitsSet;
            var decoded = Enumerable.Repeat(poison, expectedValues.Length + Guard).ToArray();
            Decode(type, packed[..expectedPacked.Length], L, c.Scales, decoded, "w", o);
            AssertValues(expectedValues, decoded.AsSpan(0, expectedValues.Length), $"{name}: decoded {type} values of {L}");
            Assert.True(decoded.AsSpan(expectedValues.Length).IndexOfAnyExcept(poison) < 0, $"{name}: decoder wrote past the destination");
        }
    }

    public static void AssertBytes(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual, string what)
    {
        int at = expected.CommonPrefixLength(actual);
        if (at < expected.Length || expected.Length != actual.Length)
            Assert.Fail($"{what}: first difference at byte {at}: expected {(at < expected.Length ? expected[at] : -1)}, got {(at < actual.Length ? actual[at] : -1)}");
    }

    public static void AssertValues<T>(ReadOnlySpan<T> expected, ReadOnlySpan<T> actual, string what) where T : unmanaged, IBinaryInteger<T>
    {
        int at = expected.CommonPrefixLength(actual);
        if (at < expected.Length || expected.Length != actual.Length)
            Assert.Fail($"{what}: first difference at element {at}: expected 0x{(at < expected.Length ? expected[at] : default):X}, got 0x{(at < actual.Length ? actual[at] : default):X}");
    }
}
