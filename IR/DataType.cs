namespace Ternion.IR;

/// <summary>ONNX element types; the numeric values are TensorProto.DataType's.</summary>
public enum DataType
{
    Undefined = 0, Float = 1, UInt8 = 2, Int8 = 3, UInt16 = 4, Int16 = 5, Int32 = 6, Int64 = 7,
    String = 8, Bool = 9, Float16 = 10, Double = 11, UInt32 = 12, UInt64 = 13, Complex64 = 14,
    Complex128 = 15, BFloat16 = 16, Float8E4M3FN = 17, Float8E4M3FNUZ = 18, Float8E5M2 = 19,
    Float8E5M2FNUZ = 20, UInt4 = 21, Int4 = 22, Float4E2M1 = 23, Float8E8M0 = 24, UInt2 = 25, Int2 = 26,
}

public static class DataTypes
{
    /// <summary>Bits per element; 0 for string and unknown types (no fixed width).</summary>
    public static int BitWidth(DataType t) => t switch
    {
        DataType.Float or DataType.Int32 or DataType.UInt32 => 32,
        DataType.UInt8 or DataType.Int8 or DataType.Bool => 8,
        DataType.Float8E4M3FN or DataType.Float8E4M3FNUZ or DataType.Float8E5M2 or DataType.Float8E5M2FNUZ or DataType.Float8E8M0 => 8,
        DataType.UInt16 or DataType.Int16 or DataType.Float16 or DataType.BFloat16 => 16,
        DataType.Int64 or DataType.UInt64 or DataType.Double or DataType.Complex64 => 64,
        DataType.Complex128 => 128,
        DataType.UInt4 or DataType.Int4 or DataType.Float4E2M1 => 4,
        DataType.UInt2 or DataType.Int2 => 2,
        _ => 0,
    };

    public static bool IsKnown(int raw) => raw >= 1 && raw <= 26;

    public static bool IsFloatingPoint(DataType t) => t is DataType.Float or DataType.Float16 or DataType.BFloat16 or DataType.Double;

    /// <summary>Bytes needed for <paramref name="elements"/> elements (sub-byte types packed), or -1 on overflow.</summary>
    public static long ByteCount(DataType t, long elements)
    {
        int bits = BitWidth(t);
        if (bits == 0 || elements < 0) return -1;
        if (bits >= 8)
        {
            long per = bits / 8;
            return elements > long.MaxValue / per ? -1 : elements * per;
        }
        int perByte = 8 / bits;
        return elements / perByte + (elements % perByte == 0 ? 0 : 1);
    }

    /// <summary>ONNX's spelling of the type, as in TensorProto.DataType (FLOAT, FLOAT16, ...).</summary>
    public static string OnnxName(DataType t) => t switch
    {
        DataType.Float => "FLOAT", DataType.UInt8 => "UINT8", DataType.Int8 => "INT8", DataType.UInt16 => "UINT16",
        DataType.Int16 => "INT16", DataType.Int32 => "INT32", DataType.Int64 => "INT64", DataType.String => "STRING",
        DataType.Bool => "BOOL", DataType.Float16 => "FLOAT16", DataType.Double => "DOUBLE", DataType.UInt32 => "UINT32",
        DataType.UInt64 => "UINT64", DataType.Complex64 => "COMPLEX64", DataType.Complex128 => "COMPLEX128",
        DataType.BFloat16 => "BFLOAT16", DataType.Float8E4M3FN => "FLOAT8E4M3FN", DataType.Float8E4M3FNUZ => "FLOAT8E4M3FNUZ",
        DataType.Float8E5M2 => "FLOAT8E5M2", DataType.Float8E5M2FNUZ => "FLOAT8E5M2FNUZ", DataType.UInt4 => "UINT4",
        DataType.Int4 => "INT4", DataType.Float4E2M1 => "FLOAT4E2M1", DataType.Float8E8M0 => "FLOAT8E8M0",
        DataType.UInt2 => "UINT2", DataType.Int2 => "INT2",
        _ => $"TYPE{(int)t}",
    };

    /// <summary>Short lower-case name used in reports and the CLI (float32, float16, bfloat16, int8 ...).</summary>
    public static string ShortName(DataType t) => t switch
    {
        DataType.Float => "float32", DataType.Double => "float64", DataType.Float16 => "float16",
        DataType.BFloat16 => "bfloat16", _ => OnnxName(t).ToLowerInvariant(),
    };
}
