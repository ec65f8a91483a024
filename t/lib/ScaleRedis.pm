package ScaleRedis;

# A real redis-server for one test: a free loopback port, its own
# directory under t/servroot/, no persistence unless asked, stopped by PID
# (never by name).  A tiny RESP client talks to it.
#
#   my $r = ScaleRedis->new(password => 'secret');
#   $r->start;                         # dies if it does not answer PING
#   $r->cmd(qw(HLEN scale:clients));   # the reply (arrays as array refs)
#   $r->kill;                          # SIGKILL, as a crash
#   $r->start;                         # again, same port, empty
#   $r->stop;                          # SIGTERM, waits

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(basename dirname);
use File::Path qw(make_path remove_tree);
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);

my $REPO = abs_path(dirname(__FILE__) . '/../..');
my $SERVER = $ENV{SCALE_REDIS_SERVER} || '/usr/bin/redis-server';
my %live;
my $count = 0;


# Why: a test names nothing; port and directory are picked here.
sub new {
    my ($class, %o) = @_;
    my $base = basename($0, '.t');
    my $self = bless {
        port     => $o{port} // ScaleTest::free_port(),
        password => $o{password},
        dir      => "$REPO/t/servroot/$base/redis-" . ++$count,
        pid      => undef,
    }, $class;
    return $self;
}


sub port { return $_[0]{port} }
sub dir  { return $_[0]{dir} }


# Why: redis-server may be missing on a machine without the deps; tests
# skip rather than fail there.
sub available { return -x $SERVER }


# Why: start (or restart after kill/stop) on the same port, with an
# empty data set: no RDB, no AOF.
sub start {
    my ($self) = @_;
    die "redis already running" if $self->{pid};
    make_path($self->{dir});
    my @cmd = ($SERVER, '--port', $self->{port}, '--bind', '127.0.0.1',
               '--dir', $self->{dir}, '--save', '', '--appendonly', 'no',
               '--daemonize', 'no', '--logfile', "$self->{dir}/redis.log");
    push @cmd, '--requirepass', $self->{password} if $self->{password};

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{dir}/stdout.log";
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    $live{$pid} = 1;

    my $deadline = time + 10;
    while (time < $deadline) {
        my $r = eval { $self->cmd('PING') };
        return $self if defined $r && $r eq 'PONG';
        die "redis-server exited at start:\n" . $self->log
            if waitpid($pid, POSIX::WNOHANG()) == $pid;
        sleep 0.05;
    }
    die "redis-server does not answer on port $self->{port}\n" . $self->log;
}


# Why: Redis crashing or being killed under load.
sub kill {
    my ($self) = @_;
    $self->_end('KILL');
}


# Why: a clean stop at the end of a test.
sub stop {
    my ($self) = @_;
    $self->_end('TERM');
}


sub _end {
    my ($self, $sig) = @_;
    my $pid = $self->{pid} or return;
    CORE::kill $sig, $pid;
    my $deadline = time + 10;
    while (time < $deadline) {
        last if waitpid($pid, POSIX::WNOHANG()) == $pid;
        sleep 0.02;
    }
    delete $live{$pid};
    $self->{pid} = undef;
    close $self->{sock} if $self->{sock};
    $self->{sock} = undef;
}


sub log {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/redis.log" or return '';
    local $/;
    return <$fh> // '';
}


# Why: one command, one reply; errors come back as "ERR ..." strings
# prefixed with "-", so a test can match them.
sub cmd {
    my ($self, @args) = @_;
    my $s = $self->{sock};
    if (!$s) {
        $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                   PeerPort => $self->{port},
                                   Proto => 'tcp', Timeout => 2)
            or die "connect redis $self->{port}: $!\n";
        binmode $s;
        $self->{sock} = $s;
        $self->{buf} = '';
        if ($self->{password}) {
            $self->{sock} = $s;
            $self->_send('AUTH', $self->{password});
            $self->_read;
        }
    }
    my $r = eval { $self->_send(@args); $self->_read };
    if ($@) {
        close $s;
        $self->{sock} = undef;
        die $@;
    }
    return $r;
}


sub _send {
    my ($self, @args) = @_;
    my $out = '*' . @args . "\r\n";
    $out .= '$' . length($_) . "\r\n$_\r\n" for @args;
    my $off = 0;
    while ($off < length $out) {
        my $n = syswrite $self->{sock}, $out, length($out) - $off, $off;
        die "write to redis: $!\n" unless defined $n;
        $off += $n;
    }
}


sub _line {
    my ($self) = @_;
    my $i;
    until (($i = index $self->{buf}, "\r\n") >= 0) {
        $self->_fill;
    }
    return substr($self->{buf}, 0, $i + 2, '') =~ s/\r\n\z//r;
}


sub _fill {
    my ($self) = @_;
    my $rin = '';
    vec($rin, fileno $self->{sock}, 1) = 1;
    select(my $rout = $rin, undef, undef, 5) or die "redis: read timeout\n";
    my $n = sysread $self->{sock}, $self->{buf}, 65536, length $self->{buf};
    die "redis closed the connection\n" unless $n;
}


sub _read {
    my ($self) = @_;
    my $line = $self->_line;
    my ($t, $v) = (substr($line, 0, 1), substr($line, 1));
    return $v if $t eq '+';
    return "-$v" if $t eq '-';
    return $v + 0 if $t eq ':';
    if ($t eq '$') {
        return undef if $v < 0;
        $self->_fill while length $self->{buf} < $v + 2;
        my $s = substr $self->{buf}, 0, $v + 2, '';
        return substr $s, 0, $v;
    }
    if ($t eq '*') {
        return undef if $v < 0;
        return [ map { $self->_read } 1 .. $v ];
    }
    die "redis: bad reply line '$line'\n";
}


sub DESTROY {
    my ($self) = @_;
    local ($?, $@);
    $self->stop if $self->{pid};
}

END {
    CORE::kill 'KILL', keys %live if %live;
}

1;
