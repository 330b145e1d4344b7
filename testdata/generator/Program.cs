using Ternion.IR;
using Ternion.SampleGen;

// Usage: dotnet run --project testdata/generator -- OUTPUT_FOLDER [--seed N]
// The shipped folder is testdata/bitnet-tiny with the default seed; tests compare it byte for byte.
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.Error.WriteLine("usage: Ternion.SampleGen OUTPUT_FOLDER [--seed N]   (default seed " + SampleWeights.DefaultSeed + ")");
    return args.Length == 0 ? 2 : 0;
}
int seed = SampleWeights.DefaultSeed;
for (int i = 1; i < args.Length; i++)
{
    if (args[i] == "--seed" && i + 1 < args.Length && int.TryParse(args[i + 1], out seed)) { i++; continue; }
    Console.Error.WriteLine($"Ternion.SampleGen: error: unexpected argument '{args[i]}'");
    return 2;
}
try
{
    var files = SampleModel.Write(args[0], seed);
    foreach (var f in new[] { files.ModelPath, files.ReferencePath, files.InputPath, files.OutputPath })
        Console.WriteLine($"{new FileInfo(f).Length,12:N0}  {f}");
    return 0;
}
catch (Exception e) when (e is TernionException or IOException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"Ternion.SampleGen: error: {e.Message}");
    return 2;
}
