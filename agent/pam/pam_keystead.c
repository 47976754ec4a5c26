/*
 * pam_keystead: the Keystead endpoint agent's PAM module.
 *
 * It decides nothing. It opens the agent daemon's Unix socket, says which account is
 * signing in, and then relays: the daemon's prompts go to the PAM conversation (echo
 * off), the person's answers go back, its messages are shown, and its last word is the
 * module's result:
 *
 * A "user" message names the local account the typed name maps to (a Keystead email
 * or user name typed at the prompt); it becomes PAM_USER for the rest of the stack.
 *
 *   allowed -> PAM_SUCCESS   denied -> PAM_AUTH_ERR
 *   ignore  -> PAM_IGNORE    (Keystead cannot decide: the next module, pam_unix with
 *                             try_first_pass, checks the password already typed)
 *
 * A daemon that is not running also gives PAM_IGNORE, so the computer's own password
 * keeps working. Keeping the logic in the daemon keeps Python (and HTTP, and JSON
 * libraries) out of sshd and the login manager.
 *
 * Daemon lines are {"type":"...","text":"..."} in that order, ASCII only (see
 * keystead_agent/protocol.py), which is all this reader understands.
 *
 * Only a daemon running as root is listened to (SO_PEERCRED): whoever else listens on the
 * socket's path (a stale or misconfigured path another user could bind) gets PAM_IGNORE.
 *
 * Option: socket=PATH (default /run/keystead/agent.sock).
 */
#define _GNU_SOURCE /* struct ucred */
#define PAM_SM_AUTH
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#define DEFAULT_SOCKET "/run/keystead/agent.sock"
#define MAX_LINE 8192
#define SOCKET_SECONDS 120

static const char *socket_path(int argc, const char **argv) {
    for (int i = 0; i < argc; i++)
        if (strncmp(argv[i], "socket=", 7) == 0) return argv[i] + 7;
    return DEFAULT_SOCKET;
}

static int connect_to(const char *path) {
    struct sockaddr_un addr;
    if (strlen(path) >= sizeof(addr.sun_path)) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, path);
    struct timeval limit = {SOCKET_SECONDS, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    /* The daemon runs as root: a listener of any other user could answer "allowed". */
    struct ucred peer;
    socklen_t peer_len = sizeof(peer);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) != 0 ||
        peer_len != sizeof(peer) || peer.uid != 0) {
        close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* One line (without its newline) into buf; -1 on end of stream, error or overlong line. */
static int read_line(int fd, char *buf, size_t size) {
    size_t used = 0;
    for (;;) {
        char c;
        ssize_t n = recv(fd, &c, 1, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        if (c == '\n') break;
        if (used + 1 >= size) return -1;
        buf[used++] = c;
    }
    buf[used] = '\0';
    return 0;
}

/* A JSON string body for in (without quotes), in a new buffer the caller wipes and frees. */
static char *json_escape(const char *in) {
    size_t len = strlen(in);
    char *out = malloc(len * 6 + 1);
    if (out == NULL) return NULL;
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p < 0x20) {
            o += sprintf(o, "\\u%04x", *p);
        } else {
            *o++ = (char)*p;
        }
    }
    *o = '\0';
    return out;
}

static void put_utf8(char **o, unsigned long cp) {
    char *q = *o;
    if (cp < 0x80) {
        *q++ = (char)cp;
    } else if (cp < 0x800) {
        *q++ = (char)(0xC0 | (cp >> 6));
        *q++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *q++ = (char)(0xE0 | (cp >> 12));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *q++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *q++ = (char)(0xF0 | (cp >> 18));
        *q++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *q++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *q++ = (char)(0x80 | (cp & 0x3F));
    }
    *o = q;
}

/* Exactly four hex digits at s, as a number; -1 if they are not there. */
static long hex4(const char *s) {
    long value = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int digit;
        if (c >= '0' && c <= '9') digit = c - '0';
        else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
        else return -1;  /* also the end of the string: never read past it */
        value = value * 16 + digit;
    }
    return value;
}

/* Decode the JSON string starting at s (just after its opening quote) into out, which
 * is at least as long as s (a decoded string is never longer). A \u escape must be four
 * hex digits; NUL and unpaired surrogates are refused. */
static int json_unescape(const char *s, char *out) {
    char *o = out;
    while (*s && *s != '"') {
        if (*s != '\\') {
            *o++ = *s++;
            continue;
        }
        s++;
        switch (*s) {
        case '"': case '\\': case '/': *o++ = *s++; break;
        case 'n': *o++ = '\n'; s++; break;
        case 't': *o++ = '\t'; s++; break;
        case 'r': *o++ = '\r'; s++; break;
        case 'b': *o++ = '\b'; s++; break;
        case 'f': *o++ = '\f'; s++; break;
        case 'u': {
            long cp = hex4(s + 1), low;
            if (cp <= 0 || (cp >= 0xDC00 && cp < 0xE000)) return -1;
            s += 5;
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (s[0] != '\\' || s[1] != 'u') return -1;
                low = hex4(s + 2);
                if (low < 0xDC00 || low >= 0xE000) return -1;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                s += 6;
            }
            put_utf8(&o, (unsigned long)cp);
            break;
        }
        default: return -1;
        }
    }
    if (*s != '"') return -1;
    *o = '\0';
    return 0;
}

/* {"type":"T","text":"X"} -> type and text (each at least MAX_LINE bytes). */
static int parse(const char *line, char *type, char *text) {
    static const char head[] = "{\"type\":\"";
    static const char middle[] = ",\"text\":\"";
    if (strncmp(line, head, sizeof(head) - 1) != 0) return -1;
    const char *s = line + sizeof(head) - 1;
    const char *end = strchr(s, '"');
    if (end == NULL || (size_t)(end - s) >= 64) return -1;
    memcpy(type, s, (size_t)(end - s));
    type[end - s] = '\0';
    s = end + 1;
    if (strncmp(s, middle, sizeof(middle) - 1) != 0) return -1;
    return json_unescape(s + sizeof(middle) - 1, text);
}

static int send_answer(int fd, const char *value) {
    char *escaped = json_escape(value ? value : "");
    if (escaped == NULL) return -1;
    size_t size = strlen(escaped) + 32;
    char *line = malloc(size);
    int rc = -1;
    if (line != NULL) {
        int n = snprintf(line, size, "{\"type\":\"answer\",\"value\":\"%s\"}\n", escaped);
        rc = send_all(fd, line, (size_t)n);
        explicit_bzero(line, size);
        free(line);
    }
    explicit_bzero(escaped, strlen(escaped));
    free(escaped);
    return rc;
}

static int send_begin(int fd, const char *user, const char *service) {
    char *u = json_escape(user), *s = json_escape(service ? service : "");
    int rc = -1;
    if (u != NULL && s != NULL) {
        size_t size = strlen(u) + strlen(s) + 64;
        char *line = malloc(size);
        if (line != NULL) {
            int n = snprintf(line, size, "{\"type\":\"begin\",\"user\":\"%s\",\"service\":\"%s\"}\n",
                             u, s);
            rc = send_all(fd, line, (size_t)n);
            free(line);
        }
    }
    free(u);
    free(s);
    return rc;
}

static int converse(pam_handle_t *pamh, int fd) {
    char *line = malloc(MAX_LINE), *text = malloc(MAX_LINE);
    char type[64];
    int result = PAM_IGNORE;
    if (line == NULL || text == NULL) goto done;
    for (;;) {
        if (read_line(fd, line, MAX_LINE) != 0 || parse(line, type, text) != 0) {
            pam_syslog(pamh, LOG_WARNING, "the Keystead agent ended the conversation early");
            break;
        }
        if (strcmp(type, "ask-password") == 0 || strcmp(type, "ask-old-local-password") == 0) {
            char *answer = NULL;
            if (pam_prompt(pamh, PAM_PROMPT_ECHO_OFF, &answer, "%s", text) != PAM_SUCCESS ||
                answer == NULL) {
                /* No answer (the conversation failed): none is made up for the daemon. */
                if (answer != NULL) {
                    explicit_bzero(answer, strlen(answer));
                    free(answer);
                }
                result = PAM_CONV_ERR;
                break;
            }
            if (strcmp(type, "ask-password") == 0 &&
                pam_set_item(pamh, PAM_AUTHTOK, answer) != PAM_SUCCESS)  /* try_first_pass */
                pam_syslog(pamh, LOG_WARNING, "the password could not be kept for the next module");
            int sent = send_answer(fd, answer);
            explicit_bzero(answer, strlen(answer));
            free(answer);
            if (sent != 0) break;
        } else if (strcmp(type, "user") == 0) {
            /* The typed name (a Keystead email or user name) is this local account. */
            if (*text == '\0' || pam_set_item(pamh, PAM_USER, text) != PAM_SUCCESS) {
                result = PAM_AUTH_ERR;
                break;
            }
        } else if (strcmp(type, "info") == 0) {
            pam_info(pamh, "%s", text);
        } else if (strcmp(type, "error") == 0) {
            pam_error(pamh, "%s", text);
        } else if (strcmp(type, "allowed") == 0) {
            result = PAM_SUCCESS;
            break;
        } else if (strcmp(type, "denied") == 0) {
            result = PAM_AUTH_ERR;
            break;
        } else {  /* "ignore", or a word this module does not know */
            break;
        }
    }
done:
    if (line != NULL) explicit_bzero(line, MAX_LINE);
    if (text != NULL) explicit_bzero(text, MAX_LINE);
    free(line);
    free(text);
    return result;
}

PAM_EXTERN int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)flags;
    const char *user = NULL;
    const void *service = NULL;
    int rc = pam_get_user(pamh, &user, NULL);
    if (rc != PAM_SUCCESS || user == NULL || *user == '\0') return PAM_USER_UNKNOWN;
    pam_get_item(pamh, PAM_SERVICE, &service);
    const char *path = socket_path(argc, argv);
    int fd = connect_to(path);
    if (fd < 0) {
        pam_syslog(pamh, LOG_NOTICE, "Keystead agent not reachable at %s: %s", path,
                   strerror(errno));
        return PAM_IGNORE;
    }
    if (send_begin(fd, user, (const char *)service) != 0) {
        close(fd);
        return PAM_IGNORE;
    }
    rc = converse(pamh, fd);
    close(fd);
    return rc;
}

PAM_EXTERN int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv) {
    (void)pamh;
    (void)flags;
    (void)argc;
    (void)argv;
    return PAM_IGNORE;
}
