#pragma once
/// @file Everything a troupe user needs: `#include <troupe/troupe.hpp>`.

#include "troupe/actors/actor.hpp"
#include "troupe/actors/actor_ref.hpp"
#include "troupe/actors/actor_system.hpp"
#include "troupe/actors/any_ref.hpp"
#include "troupe/actors/error.hpp"
#include "troupe/actors/registry.hpp"
#include "troupe/actors/inbox.hpp"
#include "troupe/actors/send_result.hpp"
#include "troupe/actors/system_config.hpp"
#include "troupe/mailbox/mailbox_options.hpp"
#include "troupe/scheduler/timer_service.hpp"
