# GET /status-page (issue 5): the dashboard comes out of the .so itself,
# one static document with its script and style inline, locked by a
# Content-Security-Policy to its own code and its own server: no CDN, no
# fetch elsewhere.  The browser test (025) checks what it does.

use strict;
use warnings;

use lib 't/lib';
use ScaleTest;
use Test::More;
use Digest::SHA qw(sha256_base64);

run_tests();

my $srv = ScaleTest::Server->new(
    http_config => 'scale_zone name=reg size=1m;',
    config      => <<'CONF');
        location = /status-page { scale_status_page; }
CONF
$srv->start;

my ($code, $h, $page) = $srv->request('GET', '/status-page');
is($code, 200, 'GET /status-page: 200');
is($h->{'content-type'}, 'text/html; charset=utf-8', 'HTML, UTF-8');
is($h->{'cache-control'}, 'no-cache', 'revalidated on every load');
is($h->{'x-content-type-options'}, 'nosniff', 'nosniff');
is(length $page, $h->{'content-length'}, 'the whole page arrives');

like($page, qr/^<!DOCTYPE html>/, 'an HTML document');
unlike($page, qr{<script[^>]+src=|<link[^>]+stylesheet}i,
       'script and style are inline: nothing else to load');
unlike($page, qr{(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}}i,
       'no address of another host anywhere in the page');
like($page, qr/id="clients-total"/, 'the clients card is there');

# the CSP allows exactly the inline script and style of the page
my $csp = $h->{'content-security-policy'} // '';
like($csp, qr/default-src 'none'/, 'CSP: nothing by default');
like($csp, qr/connect-src 'self'/, 'CSP: fetch only from this server');
my ($script) = $page =~ m{<script>(.*)</script>}s;
my ($style) = $page =~ m{<style>(.*)</style>}s;
for ([script => $script], [style => $style]) {
    my ($what, $text) = @$_;
    my $hash = sha256_base64($text // '');
    $hash .= '=' while length($hash) % 4;
    like($csp, qr/\Q$what\E-src 'sha256-\Q$hash\E'/,
         "CSP: the own hash of the $what");
}
unlike($script, qr/\.innerHTML\s*=|insertAdjacentHTML|document\.write/,
       'the script never writes markup from strings');

# the embedded page is the one built from ngx_scale_module/html/
my $root = repo_root();
open my $fh, '<', "$root/ngx_scale_module/html/app.js" or die $!;
my $js = do { local $/; <$fh> };
is($script, $js, 'the served script is html/app.js as it is now');

my $etag = $h->{etag};
like($etag // '', qr/^"[0-9a-f]{16}"$/, 'a strong ETag');
($code, $h, my $body) = $srv->request('GET', '/status-page', undef,
                                      { 'If-None-Match' => $etag });
is($code, 304, 'If-None-Match: 304');
is($body, '', 'without a body');

($code, $h, $body) = $srv->request('HEAD', '/status-page');
is($code, 200, 'HEAD: 200');
is($body, '', 'HEAD: no body');

($code, $h) = $srv->request('POST', '/status-page', 'x');
is($code, 405, 'POST: 405');
is($h->{allow}, 'GET, HEAD', 'Allow: GET, HEAD');

$srv->finish;

done_testing();

__DATA__

=== TEST 1: the page is served with the dashboard's title
--- http_config
    scale_zone name=reg size=1m;
--- config
    location = /status-page { scale_status_page; }
--- request
GET /status-page
--- error_code: 200
--- response_body_like
<title>ngx_scale — bootstrap server</title>
