using System.Diagnostics;
using System.Globalization;
using Ternion.IR;
using Ternion.ModelGen;

// ternion-modelgen OUT.onnx [--layers N] [--hidden H] [--ffn F] [--heads A] [--kv-heads B] [--vocab V] [--no-embedding] [--dense] [--act-quant] [--seed S] [--form float|online|packed|nbits] [--inline]
if (args.Length == 0 || args[0].StartsWith('-'))
{
    Console.Error.WriteLine("usage: ternion-modelgen OUT.onnx [--layers N] [--hidden H] [--ffn F] [--heads A] [--kv-heads B] [--vocab V] [--no-embedding] [--dense] [--act-quant] [--seed S] [--form float|online|packed|nbits] [--inline]");
    return 2;
}
var shape = new DecoderShape();
for (int i = 1; i < args.Length; i++)
{
    int Int() => int.Parse(args[++i], CultureInfo.InvariantCulture);
    shape = args[i] switch
    {
        "--inline" => shape with { Inline = true },
        "--layers" => shape with { Layers = Int() },
        "--hidden" => shape with { Hidden = Int() },
        "--ffn" => shape with { Ffn = Int() },
        "--heads" => shape with { Heads = Int() },
        "--kv-heads" => shape with { KvHeads = Int() },
        "--vocab" => shape with { Vocab = Int() },
        "--seed" => shape with { Seed = ulong.Parse(args[++i], CultureInfo.InvariantCulture) },
        "--no-embedding" => shape with { Embedding = false },
        "--dense" => shape with { Ternary = false },
        "--act-quant" => shape with { ActivationQuant = true },
        "--form" => shape with { Form = args[++i] switch
        {
            "float" => WeightStorage.Float, "online" => WeightStorage.Online, "packed" => WeightStorage.Packed, "nbits" => WeightStorage.NBits,
            var f => throw new ArgumentException($"unknown form {f} (float, online, packed, nbits)"),
        } },
        _ => throw new ArgumentException($"unknown option {args[i]}"),
    };
}
try
{
    var clock = Stopwatch.StartNew();
    var r = SyntheticDecoder.Write(shape, args[0]);
    Console.WriteLine(r.DataPath is null
        ? $"wrote {r.ModelPath}: tensors inline, {r.ModelBytes:N0} bytes in {clock.Elapsed.TotalSeconds:F1} s ({shape})"
        : $"wrote {r.ModelPath} + {Path.GetFileName(r.DataPath)}: {r.ExternalTensors} external tensors, {r.DataBytes:N0} bytes in {clock.Elapsed.TotalSeconds:F1} s ({shape})");
    return 0;
}
catch (TernionException e)
{
    Console.Error.WriteLine($"ternion-modelgen: error: {e.Message}");
    return 2;
}
