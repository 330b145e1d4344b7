using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Ternion.TestSupport;

/// <summary>Finds the first field where two protobuf messages differ, as a readable path.</summary>
public static class ProtoDiff
{
    public static string First(IMessage expected, IMessage actual) => Diff(expected, actual, expected.Descriptor.Name) ?? "no difference found by reflection (byte order only)";

    private static string? Diff(IMessage a, IMessage b, string path)
    {
        foreach (var f in a.Descriptor.Fields.InFieldNumberOrder())
        {
            var acc = f.Accessor;
            string p = $"{path}.{f.Name}";
            if (f.IsRepeated)
            {
                var la = (System.Collections.IList)acc.GetValue(a);
                var lb = (System.Collections.IList)acc.GetValue(b);
                if (la.Count != lb.Count) return $"{p}: {la.Count} vs {lb.Count} entries";
                for (int i = 0; i < la.Count; i++)
                {
                    if (f.FieldType == FieldType.Message)
                    {
                        var d = Diff((IMessage)la[i]!, (IMessage)lb[i]!, $"{p}[{i}]");
                        if (d is not null) return d;
                    }
                    else if (!Equals(la[i], lb[i])) return $"{p}[{i}]: {la[i]} vs {lb[i]}";
                }
                continue;
            }
            bool ha = !f.HasPresence || acc.HasValue(a), hb = !f.HasPresence || acc.HasValue(b);
            if (ha != hb) return $"{p}: present {ha} vs {hb}";
            if (!ha) continue;
            var va = acc.GetValue(a); var vb = acc.GetValue(b);
            if (f.FieldType == FieldType.Message)
            {
                if (va is null || vb is null) { if (va != vb) return $"{p}: null vs non-null"; continue; }
                var d = Diff((IMessage)va, (IMessage)vb, p);
                if (d is not null) return d;
            }
            else if (!Equals(va, vb)) return $"{p}: {Short(va)} vs {Short(vb)}";
        }
        return null;
    }

    private static string Short(object? v) => v is ByteString bs ? $"{bs.Length} bytes" : v?.ToString() ?? "null";
}
