using NodeKeeper.Core.Config;
using NodeKeeper.Core.Diagnosis;
using NodeKeeper.Core.Protocol;
using NodeKeeper.Core.Supervision;
using NodeKeeper.Core.Tests.Supervision;

namespace NodeKeeper.Core.Tests.Diagnosis;

public sealed class WhyTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
    private const long MiB = 1 << 20;

    private static RecentExit Exit(string reason, string? cause = null, int minutesAgo = 1, int? code = 1, string? signal = null,
        MetricsBefore? before = null, params string[] evidence) =>
        new(0, code, signal, reason, Now.AddMinutes(-minutesAgo), null) { Cause = cause, Evidence = evidence, Before = before };

    private static InstanceInfo Row(Func<InstanceInfo, InstanceInfo>? with = null)
    {
        var row = new InstanceInfo { Name = "api", Instance = 0, Pid = 4242, Status = "online" };
        return with is null ? row : with(row);
    }

    [Fact]
    public void An_exit_made_final_by_restart_never_is_titled_with_its_own_code()
    {
        // restart = "never" makes every exit final, so the machine files code 3 as an exit: the code must still show.
        var spec = Driver.BaseSpec() with { Restart = RestartMode.Never };
        var report = Why.Build(spec, [Exit(ExitReasons.Exit, code: 3)], [], Now);
        report.Findings.Single().Summary.Should().StartWith("exited by itself with code 3:");
        Why.Build(spec, [Exit(ExitReasons.Exit, code: 0)], [], Now).Findings.Single().Summary.Should().StartWith("exited by itself with code 0:");
    }

    [Fact]
    public void Exits_are_grouped_by_cause_newest_first_with_how_often_and_the_remedy()
    {
        var spec = Driver.BaseSpec() with { MaxOldSpaceSizeMb = 64 };
        var exits = new[]
        {
            Exit(ExitReasons.OomHeap, ExitCauses.HeapLimit, 5, null, "SIGABRT", new MetricsBefore(90 * MiB, null, 60 * MiB, 64 * MiB, 12, 20, 1024),
                "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory"),
            Exit(ExitReasons.OomHeap, ExitCauses.HeapLimit, 90, null, "SIGABRT"),
            Exit(ExitReasons.Crash, ExitCauses.UncaughtException, 2, 1, null, null, "TypeError: x is not a function", "at handler (/srv/app.js:3:9)"),
            Exit(ExitReasons.Stopped, minutesAgo: 1, code: 0),
        };
        var report = Why.Build(spec, exits, [Row()], Now);

        report.Status.Should().Be("1 online");
        report.Findings.Select(f => f.Reason).Should().Equal(ExitReasons.Crash, ExitReasons.OomHeap);
        var oom = report.Findings[1];
        oom.Count.Should().Be(2);
        oom.Summary.Should().Contain("JavaScript heap out of memory").And.Contain("2 times").And.Contain("1 in the last hour");
        oom.Evidence.Should().Contain("FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory")
            .And.Contain("heap 60 MiB of its 64 MiB limit before the exit").And.Contain("ended by SIGABRT");
        oom.Remedy.Should().Contain("max_old_space_size = \"64M\"").And.Contain("raise max_old_space_size");
        report.Findings[0].Evidence.Should().StartWith("TypeError: x is not a function");
        report.Findings[0].Remedy.Should().Contain("Fix the error shown");
    }

    [Theory]
    [InlineData(ExitReasons.Emfile, null, "max_open_files (now 2048)")]
    [InlineData(ExitReasons.Emfile, ExitCauses.EmfileWatch, "fs.inotify.max_user_watches")]
    [InlineData(ExitReasons.EaddrInUse, null, "change port")]
    [InlineData(ExitReasons.ModuleNotFound, ExitCauses.CjsModuleNotFound, "npm ci")]
    [InlineData(ExitReasons.NotReady, null, "listen_timeout (10s)")]
    [InlineData(ExitReasons.Health, null, "health.timeout")]
    [InlineData(ExitReasons.MaxMemory, null, "raise max_memory")]
    [InlineData(ExitReasons.OomKernel, null, "Set max_memory below")]
    [InlineData(ExitReasons.Signal, ExitCauses.ExternalSignal, "outside NodeKeeper")]
    [InlineData(ExitReasons.Crash, ExitCauses.HeadersSent, "next()")]
    [InlineData(ExitReasons.Crash, ExitCauses.NextCalledTwice, "next() more than once")]
    [InlineData(ExitReasons.Crash, ExitCauses.ForkEagain, "ulimit -u")]
    [InlineData(ExitReasons.Crash, ExitCauses.UnhandledRejection, ".catch()")]
    [InlineData(ExitReasons.Crash, ExitCauses.SyntaxError, "nk reload")]
    [InlineData(ExitReasons.Crash, null, "nk logs api --err")]
    public void Every_cause_has_a_remedy_that_names_what_to_change(string reason, string? cause, string expected)
    {
        var spec = Driver.BaseSpec() with { Name = "api", MaxOpenFiles = 2048, Port = 3000, Ready = ReadyMode.Listen };
        var finding = Why.Build(spec, [Exit(reason, cause)], [], Now).Findings.Single();
        finding.Remedy.Should().Contain(expected);
        finding.Summary.Should().NotBeNullOrWhiteSpace();
    }

    [Fact]
    public void A_running_instance_with_a_leak_a_full_heap_many_files_and_a_lagging_loop_gets_a_finding_for_each()
    {
        var spec = Driver.BaseSpec() with { MaxMemory = 500 * MiB };
        var row = Row(r => r with
        {
            MemoryBytes = 200 * MiB, MemoryGrowthMbPerMin = 30, HeapUsedBytes = 95 * MiB, HeapLimitBytes = 100 * MiB,
            OpenFiles = 900, MaxOpenFiles = 1024, EventLoopLagMs = 650, EventLoopP50Ms = 2,
        });
        var findings = Why.Build(spec, [], [row], Now).Findings;
        findings.Select(f => f.Reason).Should().Equal("memory_growth", "heap_near_limit", "open_files", "event_loop");
        findings[0].Evidence.Single().Should().Contain("30 MB/min").And.Contain("max_memory (500 MiB) in about 10 min");
        findings[1].Evidence.Single().Should().Be("heap 95 MiB of its 100 MiB limit (95 %)");
        findings[2].Remedy.Should().Contain("max_open_files (now 1024)");
        findings[3].Evidence.Single().Should().Contain("p99 650 ms");
    }

    [Fact]
    public void A_quiet_app_has_no_findings_and_a_stopped_instance_is_not_judged_on_old_figures()
    {
        var spec = Driver.BaseSpec();
        Why.Build(spec, [Exit(ExitReasons.Stopped, code: 0), Exit(ExitReasons.Restart, code: 0)], [Row()], Now).Findings.Should().BeEmpty();
        var stopped = Row(r => r with { Pid = null, Status = "stopped", EventLoopLagMs = 900 });
        Why.Build(spec, [], [stopped], Now).Findings.Should().BeEmpty();
    }

    [Fact]
    public void File_watching_that_hit_the_inotify_limit_is_one_finding_for_the_app()
    {
        var warning = "file watching is off: the kernel's inotify limit was reached (…); raise it with sysctl …";
        var rows = new[]
        {
            Row(r => r with { Warnings = ["open files 900 of 1024 (87 %): …", warning], WarningKinds = ["open_files", "watch"] }),
            Row(r => r with { Instance = 1, Warnings = [warning], WarningKinds = ["watch"] }),
        };
        var finding = Why.Build(Driver.BaseSpec(), [], rows, Now).Findings.Should().ContainSingle().Subject;
        finding.Reason.Should().Be(ExitReasons.Watch);
        finding.Evidence.Should().Equal(warning);
        finding.Remedy.Should().Contain("fs.inotify.max_user_watches");
    }
}
