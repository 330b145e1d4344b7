using Ternion.IR;
using Ternion.SampleGen;

// Usage: dotnet run --project testdata/generator -- OUTPUT_FOLDER [--seed N] [--form plain|online|packed]
// The shipped folders are testdata/bitnet-tiny (plain), testdata/bitnet-tiny-online and
// testdata/bitnet-tiny-packed with the default seed; tests compare them byte for byte.
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.Error.WriteLine("usage: Ternion.SampleGen OUTPUT_FOLDER [--seed N] [--form plain|online|packed]   (default seed " + SampleWeights.DefaultSeed + ", form plain)");
    return args.Length == 0 ? 2 : 0;
}
int seed = SampleWeights.DefaultSeed;
var form = WeightForm.Plain;
for (int i = 1; i < args.Length; i++)
{
    if (args[i] == "--seed" && i + 1 < args.Length && int.TryParse(args[i + 1], out seed)) { i++; continue; }
    if (args[i] == "--form" && i + 1 < args.Length)
    {
        form = args[++i] switch { "plain" => WeightForm.Plain, "online" => WeightForm.OnlineQuantized, "packed" => WeightForm.PackedUInt8, _ => (WeightForm)(-1) };
        if ((int)form >= 0) continue;
    }
    Console.Error.WriteLine($"Ternion.SampleGen: error: unexpected argument '{args[i]}'");
    return 2;
}
try
{
    string[] written;
    if (form == WeightForm.Plain)
    {
        var files = SampleModel.Write(args[0], seed);
        written = [files.ModelPath, files.ReferencePath, files.InputPath, files.OutputPath];
    }
    else
    {
        var (model, input) = SampleModel.WriteTwin(args[0], form, seed);
        written = [model, input];
    }
    foreach (var f in written) Console.WriteLine($"{new FileInfo(f).Length,12:N0}  {f}");
    return 0;
}
catch (Exception e) when (e is TernionException or IOException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"Ternion.SampleGen: error: {e.Message}");
    return 2;
}
