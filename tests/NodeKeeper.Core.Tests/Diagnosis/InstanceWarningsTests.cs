using NodeKeeper.Core.Diagnosis;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Supervision;
using NodeKeeper.Core.Tests.Supervision;

namespace NodeKeeper.Core.Tests.Diagnosis;

public sealed class InstanceWarningsTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
    private const long MiB = 1 << 20;

    private static readonly WarningInputs Quiet = new()
    {
        Status = InstanceStatus.Online, HasIpc = true, OpenFiles = 20, MaxOpenFiles = 1024, ReportAt = Now.AddSeconds(-1),
        Report = new PreloadReport { HeapUsed = 10 * MiB, HeapLimit = 100 * MiB, LagP99 = 3 },
    };

    private static List<WarningKind> Kinds(WarningInputs i) => InstanceWarnings.Of(i, Now).Select(w => w.Kind).ToList();

    [Fact]
    public void A_quiet_instance_has_no_warnings()
    {
        InstanceWarnings.Of(Quiet, Now).Should().BeEmpty();
    }

    [Fact]
    public void Every_problem_gets_its_kind_and_its_sentence_in_a_fixed_order()
    {
        var inputs = Quiet with
        {
            OpenFiles = 900, ReportAt = Now.AddSeconds(-12), MaxMemory = 500 * MiB, WatchProblem = "file watching is off: ENOSPC",
            MemoryGrowth = new GrowthEstimate(MiB / 2.0, 0.99, TimeSpan.FromSeconds(90), 200 * MiB),
            Report = new PreloadReport { HeapUsed = 95 * MiB, HeapLimit = 100 * MiB, LagP99 = 620 },
        };
        var warnings = InstanceWarnings.Of(inputs, Now);
        warnings.Select(w => w.Kind).Should().Equal(WarningKind.OpenFiles, WarningKind.MemoryGrowth, WarningKind.Heap,
            WarningKind.EventLoopLag, WarningKind.Watch, WarningKind.Stalled);
        warnings.Select(w => w.Text).Should().Equal(
            "open files 900 of 1024 (87 %): raise max_open_files, or look for a leak of files or sockets",
            "memory growing 30 MB/min over 90 s, max_memory in about 10 min",
            "heap 95 MiB of its 100 MiB limit: raise max_old_space_size, or look for a leak",
            "event loop delay p99 620 ms: something blocks it",
            "file watching is off: ENOSPC",
            "no report from the event loop for 12 s: it is stalled");
    }

    [Fact]
    public void A_heap_below_its_share_that_grows_warns_of_the_time_to_its_limit_instead()
    {
        var inputs = Quiet with
        {
            Report = new PreloadReport { HeapUsed = 80 * MiB, HeapLimit = 100 * MiB },
            HeapGrowth = new GrowthEstimate(MiB / 6.0, 0.95, TimeSpan.FromSeconds(60), 80 * MiB),
        };
        InstanceWarnings.Of(inputs, Now).Should().ContainSingle()
            .Which.Should().Be(new InstanceWarning(WarningKind.HeapGrowth, "heap growing 10 MB/min, its limit in about 2 min"));
        Kinds(inputs with { Report = new PreloadReport { HeapUsed = 90 * MiB, HeapLimit = 100 * MiB } }).Should().Equal(WarningKind.Heap);
    }

    [Theory]
    [InlineData(819, 1024, false)]
    [InlineData(820, 1024, true)]
    [InlineData(800, 1000, true)]
    [InlineData(0, 0, false)]
    public void Open_files_warn_from_80_percent_of_the_limit(int files, int max, bool warned)
    {
        Kinds(Quiet with { OpenFiles = files, MaxOpenFiles = max }).Contains(WarningKind.OpenFiles).Should().Be(warned);
    }

    [Theory]
    [InlineData(499.9, false)]
    [InlineData(500, true)]
    public void The_event_loop_warns_from_a_p99_of_500_ms(double p99, bool warned)
    {
        Kinds(Quiet with { Report = Quiet.Report! with { LagP99 = p99 } }).Contains(WarningKind.EventLoopLag).Should().Be(warned);
    }

    [Fact]
    public void Only_an_online_instance_that_reports_over_ipc_can_be_stalled_and_only_after_10_s()
    {
        // An idle preload reports every 5 s: twice that without a report is a stall.
        var late = Quiet with { ReportAt = Now.AddSeconds(-11) };
        Kinds(late).Should().Equal(WarningKind.Stalled);
        Kinds(late with { ReportAt = Now.AddSeconds(-10) }).Should().BeEmpty();
        Kinds(late with { ReportAt = Now.AddSeconds(-6) }).Should().BeEmpty("an idle app's reports come 5 s apart");
        Kinds(late with { HasIpc = false }).Should().BeEmpty();
        Kinds(late with { Status = InstanceStatus.Starting }).Should().BeEmpty();
        Kinds(late with { ReportAt = null }).Should().BeEmpty();
    }

    [Theory]
    [InlineData(819, 89, 499.0)]
    [InlineData(820, 90, 500.0)]
    [InlineData(1000, 99, 900.0)]
    public void Status_and_why_judge_the_same_figures_by_the_same_thresholds(int files, int heapMiB, double lag)
    {
        var report = new PreloadReport { HeapUsed = heapMiB * MiB, HeapLimit = 100 * MiB, LagP99 = lag };
        var status = InstanceWarnings.Of(Quiet with { OpenFiles = files, Report = report }, Now).Select(w => w.Kind.Wire());
        var row = new InstanceInfo
        {
            Name = "api", Pid = 1, Status = "online", OpenFiles = files, MaxOpenFiles = 1024,
            HeapUsedBytes = report.HeapUsed, HeapLimitBytes = report.HeapLimit, EventLoopLagMs = lag,
        };
        var why = Why.Build(Driver.BaseSpec(), [], [row], Now).Findings.Select(f => f.Reason);
        why.Should().BeEquivalentTo(status);
    }

    [Fact]
    public void Why_finds_the_watch_warning_by_its_kind_not_by_its_words()
    {
        var row = new InstanceInfo
        {
            Name = "api", Pid = 1, Status = "online",
            Warnings = ["file watching is off, says a warning of another kind", "inotify: no space left on device"],
            WarningKinds = ["event_loop", "watch"],
        };
        var finding = Why.Build(Driver.BaseSpec(), [], [row], Now).Findings.Should().ContainSingle().Subject;
        finding.Reason.Should().Be(ExitReasons.Watch);
        finding.Evidence.Should().Equal("inotify: no space left on device");
    }

    [Theory]
    [InlineData(90, "90 s")]
    [InlineData(600, "10 min")]
    [InlineData(3 * 3600, "3 h")]
    [InlineData(1e300, " h")]
    public void A_time_ahead_is_said_in_seconds_minutes_or_hours_however_far(double seconds, string said)
    {
        InstanceWarnings.About(seconds).Should().EndWith(said);
    }

    [Fact]
    public void Why_says_when_a_slow_rise_reaches_a_far_max_memory_without_overflowing()
    {
        var row = new InstanceInfo { Name = "api", Pid = 1, Status = "online", MemoryBytes = MiB, MemoryGrowthMbPerMin = 1e-9 };
        var finding = Why.Build(Driver.BaseSpec() with { MaxMemory = 1L << 50 }, [], [row], Now).Findings.Single();
        finding.Evidence.Single().Should().MatchRegex(@"max_memory \(.*\) in about \d+ h$");
    }

    [Fact]
    public void Every_kind_has_a_distinct_wire_name()
    {
        var names = Enum.GetValues<WarningKind>().Select(k => k.Wire()).ToList();
        names.Should().OnlyHaveUniqueItems().And.AllSatisfy(n => n.Should().MatchRegex("^[a-z_]+$"));
    }
}
