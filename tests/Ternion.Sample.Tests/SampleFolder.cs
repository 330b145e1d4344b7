using Ternion.SampleGen;
using Ternion.TestSupport;

namespace Ternion.Sample.Tests;

/// <summary>Where the committed sample lives.</summary>
internal static class SampleFolder
{
    public static string Root => Path.Combine(Paths.TestData, "bitnet-tiny");
    public static string Model => Path.Combine(Root, SampleModel.ModelFile);
    public static string Reference => Path.Combine(Root, SampleModel.ReferenceFile);
    public static string DataSet => Path.Combine(Root, SampleModel.DataSetFolder);
    public static string Input => Path.Combine(DataSet, "input_0.pb");
    public static string Output => Path.Combine(DataSet, "output_0.pb");

    /// <summary>Relative paths of every file the generator writes.</summary>
    public static readonly string[] Files =
    [
        SampleModel.ModelFile,
        SampleModel.ReferenceFile,
        Path.Combine(SampleModel.DataSetFolder, "input_0.pb"),
        Path.Combine(SampleModel.DataSetFolder, "output_0.pb"),
    ];
}
