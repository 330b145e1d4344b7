using System.Reflection;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Ternion.Bench;

/// <summary>
/// A benchmark class that moves a known number of bytes per operation declares
/// <c>public static long ProcessedBytes(string method, ParameterInstances parameters)</c>;
/// this config then adds the median, GiB/s from the median, and speed relative to the baseline
/// of the same category and parameters (baseline median / this median, so 0.5 = half as fast).
/// </summary>
public sealed class ThroughputConfig : ManualConfig
{
    public ThroughputConfig()
    {
        AddColumn(StatisticColumn.Median, new GibPerSecondColumn(), new SpeedVsBaselineColumn(),
                  StatisticColumn.Min, new GibPerSecondColumn(fromMin: true));
        AddColumn(CategoriesColumn.Default);
        AddLogicalGroupRules(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams);
        HideColumns(BaselineRatioColumn.RatioMean.ColumnName, BaselineRatioColumn.RatioStdDev.ColumnName);
        WithOptions(ConfigOptions.JoinSummary);
    }

    internal static long? BytesOf(BenchmarkCase c)
    {
        var m = c.Descriptor.Type.GetMethod("ProcessedBytes", BindingFlags.Public | BindingFlags.Static);
        return m?.Invoke(null, [c.Descriptor.WorkloadMethod.Name, c.Parameters]) as long?;
    }

    internal static double? MedianNs(Summary s, BenchmarkCase c) => s[c]?.ResultStatistics?.Median;
    internal static double? MinNs(Summary s, BenchmarkCase c) => s[c]?.ResultStatistics?.Min;
}

/// <summary>
/// Throughput from the median; with fromMin, from the fastest iteration instead, which on a shared
/// machine shows what the code does when it is not descheduled.
/// </summary>
public sealed class GibPerSecondColumn(bool fromMin = false) : IColumn
{
    public string Id => fromMin ? "GiB/s (min)" : "GiB/s";
    public string ColumnName => Id;
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => fromMin ? 2 : 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => fromMin
        ? "Bytes processed per second in the fastest iteration"
        : "Bytes processed per second, from the median (float32 values count 4 bytes, trits 1)";
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var bytes = ThroughputConfig.BytesOf(benchmarkCase);
        var ns = fromMin ? ThroughputConfig.MinNs(summary, benchmarkCase) : ThroughputConfig.MedianNs(summary, benchmarkCase);
        return bytes is null || ns is null or 0 ? "-" : (bytes.Value / (ns.Value * 1e-9) / (1L << 30)).ToString("F1");
    }
}

public sealed class SpeedVsBaselineColumn : IColumn
{
    public string Id => "SpeedVsBaseline";
    public string ColumnName => "vs memcpy";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 1;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Baseline median / this median, same category and parameters (>1: faster than the baseline)";
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var cats = benchmarkCase.Descriptor.Categories;
        var baseline = summary.BenchmarksCases.FirstOrDefault(c =>
            c.Descriptor.Baseline && c.Descriptor.Type == benchmarkCase.Descriptor.Type &&
            c.Descriptor.Categories.SequenceEqual(cats) && c.Parameters.DisplayInfo == benchmarkCase.Parameters.DisplayInfo);
        var b = baseline is null ? null : ThroughputConfig.MedianNs(summary, baseline);
        var t = ThroughputConfig.MedianNs(summary, benchmarkCase);
        return b is null || t is null or 0 ? "-" : (b.Value / t.Value).ToString("F2");
    }
}
