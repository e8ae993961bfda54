#include "imap_fetch.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "mailcanary/probes/canary.hpp"

namespace mailcanary::probes {

char* imap_dup(std::string_view s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  return p;
}

std::string printable(const char* text, std::size_t max) {
  std::string out;
  for (const char* p = text; *p && out.size() < max; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  return out;
}

mailimap_set* uid_set(const std::vector<std::uint32_t>& uids, std::size_t start, std::size_t end) {
  mailimap_set* set = mailimap_set_new_empty();
  for (std::size_t i = start; i < end; ++i) {
    mailimap_set_add_single(set, uids[i]);
  }
  return set;
}

mailimap_fetch_type* canary_headers_fetch(std::size_t max_bytes) {
  clist* names = clist_new();
  for (std::string_view field :
       {kCanaryHeader, std::string_view("Received"), std::string_view("Authentication-Results"),
        std::string_view("Date")}) {
    clist_append(names, imap_dup(field));
  }
  mailimap_section* section = mailimap_section_new_header_fields(mailimap_header_list_new(names));
  mailimap_fetch_type* type = mailimap_fetch_type_new_fetch_att_list_empty();
  mailimap_fetch_type_new_fetch_att_list_add(type, mailimap_fetch_att_new_uid());
  mailimap_fetch_type_new_fetch_att_list_add(type, mailimap_fetch_att_new_internaldate());
  mailimap_fetch_type_new_fetch_att_list_add(
      type, mailimap_fetch_att_new_body_peek_section_partial(section, 0,
                                                             static_cast<uint32_t>(max_bytes)));
  return type;
}

mailimap_fetch_type* message_start_fetch(std::size_t max_bytes) {
  mailimap_fetch_type* type = mailimap_fetch_type_new_fetch_att_list_empty();
  mailimap_fetch_type_new_fetch_att_list_add(
      type, mailimap_fetch_att_new_body_peek_section_partial(mailimap_section_new(nullptr), 0,
                                                             static_cast<uint32_t>(max_bytes)));
  return type;
}

std::optional<std::chrono::system_clock::time_point> imap_date_time(const mailimap_date_time& d) {
  // libetpan gives the zone as the number it read: +0130 is 130.
  const int zone_h = d.dt_zone / 100;
  const int zone_m = d.dt_zone % 100;
  if (d.dt_year < 1970 || d.dt_year > 9999 || d.dt_month < 1 || d.dt_month > 12 || d.dt_day < 1 ||
      d.dt_day > 31 || d.dt_hour < 0 || d.dt_hour > 23 || d.dt_min < 0 || d.dt_min > 59 ||
      d.dt_sec < 0 || d.dt_sec > 60 || zone_h < -14 || zone_h > 14 || zone_m < -59 || zone_m > 59) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = d.dt_year - 1900;
  tm.tm_mon = d.dt_month - 1;
  tm.tm_mday = d.dt_day;
  tm.tm_hour = d.dt_hour;
  tm.tm_min = d.dt_min;
  tm.tm_sec = d.dt_sec;
  const std::time_t utc_as_if = ::timegm(&tm);
  if (utc_as_if == static_cast<std::time_t>(-1)) {
    return std::nullopt;
  }
  const long offset = static_cast<long>(zone_h) * 3600 + static_cast<long>(zone_m) * 60;
  return std::chrono::system_clock::from_time_t(utc_as_if - offset);
}

std::vector<FetchedSection> fetched_sections(clist* result, std::size_t max_bytes) {
  std::vector<FetchedSection> out;
  for (clistiter* it = clist_begin(result); it; it = clist_next(it)) {
    auto* msg = static_cast<mailimap_msg_att*>(clist_content(it));
    FetchedSection section;
    for (clistiter* a = clist_begin(msg->att_list); a; a = clist_next(a)) {
      auto* item = static_cast<mailimap_msg_att_item*>(clist_content(a));
      if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC || !item->att_data.att_static) {
        continue;
      }
      auto* st = item->att_data.att_static;
      if (st->att_type == MAILIMAP_MSG_ATT_UID) {
        section.uid = st->att_data.att_uid;
      } else if (st->att_type == MAILIMAP_MSG_ATT_INTERNALDATE && st->att_data.att_internal_date) {
        section.internal_date = imap_date_time(*st->att_data.att_internal_date);
      } else if (st->att_type == MAILIMAP_MSG_ATT_BODY_SECTION && st->att_data.att_body_section &&
                 st->att_data.att_body_section->sec_body_part) {
        auto* sec = st->att_data.att_body_section;
        section.text.assign(sec->sec_body_part, std::min<std::size_t>(sec->sec_length, max_bytes));
      }
    }
    out.push_back(std::move(section));
  }
  return out;
}

}  // namespace mailcanary::probes
